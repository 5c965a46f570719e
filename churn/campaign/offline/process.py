"""What an offline campaign process sets up for itself before it reads its first row.

Each setting is the process's own business (campaign.py owns its process; a library importing churn
is not touched) and each was found by profiling a 1,000,000-row `campaign.py --offline` run: CPU
that did no scoring, a visible share of a run that should take about a second (docs/performance.md).
"""

from __future__ import annotations

import os
import sys
from typing import Any


def prepare_offline_process() -> None:
    keep_freed_memory()
    arrow_allocates_with_jemalloc()
    arrow_without_pandas()


# From glibc's <malloc.h>: mallopt's parameters
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for reuse instead of returning it to the kernel at once.

    An offline run allocates the same large numpy and bytes buffers for every block of ~30,000 rows.
    By default glibc maps such a buffer afresh and unmaps it when freed, so each block pays its page
    faults again, in the kernel. With higher thresholds the buffers come from a heap kept between
    blocks (a fraction of the faults); the process still holds no more than its few blocks' worth.
    False where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # noqa: PLC0415 - only offline runs tune malloc

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # another C library (musl): leave it as it is
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 64 << 20) and mallopt(M_TRIM_THRESHOLD, 256 << 20))


def arrow_allocates_with_jemalloc() -> bool:
    """Arrow's buffers from its jemalloc pool rather than its default (mimalloc), unless the user chose one.

    Each block's reading and kernels allocate afresh; mimalloc gives the freed pages back and takes new
    ones, which the kernel zeroes (a twelfth of a 1M-row run's samples went to clear_page on a machine
    with transparent huge pages). jemalloc keeps them. False where Arrow was built without jemalloc.
    """
    import pyarrow as pa  # noqa: PLC0415 - only offline runs use Arrow

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return False
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # pa.ArrowNotImplementedError: a build without jemalloc
        return False
    return True


def arrow_without_pandas() -> None:
    """Let pyarrow know, before its first conversion, that this process has no use for pandas.

    pyarrow imports pandas the first time it turns a Python value into an Arrow one, only to ask
    whether the value is a pandas object: importing pandas is a large share of a million-row run
    wherever pandas is installed (a data scientist's environment, the dev environment; the service
    image has none). This process never hands pyarrow a pandas object, so pyarrow's one look for
    pandas is made while pandas cannot be imported; pyarrow remembers the answer for that question
    only, and a later `import pandas` works as usual.
    """
    if "pandas" in sys.modules:
        return  # already imported: nothing left to save
    import pyarrow as pa  # noqa: PLC0415 - only offline runs use Arrow

    hide = HidePandas()
    sys.meta_path.insert(0, hide)
    try:
        pa.scalar(0)  # pyarrow's first conversion: its look for pandas happens here
    finally:
        sys.meta_path.remove(hide)


class HidePandas:
    """An import finder (sys.meta_path) that refuses pandas (a plain class: importing importlib.abc
    for its base class would add to start-up)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"{name} is hidden from pyarrow's look for pandas", name=name)
