"""The process settings of campaign.py: OpenBLAS on one thread, Arrow on jemalloc, pyarrow spared its import of
pandas (and pandas still works after); each only where the user chose nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA_PATH, PROJECT

CHILD = """
import sys
from churn.campaign.offline.process import prepare_offline_process
prepare_offline_process()
import pyarrow as pa
pa.array([1.5, None]); pa.scalar("x"); pa.table({"a": [1, 2]})  # conversions from Python values
assert "pandas" not in sys.modules, "pyarrow imported pandas"
import pandas as pd
frame = pa.table({"a": [1, 2]}).to_pandas()
assert isinstance(frame, pd.DataFrame) and pa.Table.from_pandas(frame).num_rows == 2
print("ok")
"""


def test_pyarrow_does_not_import_pandas_and_a_later_import_works() -> None:
    pytest.importorskip("pandas")  # the case the setting is for: pandas installed
    done = subprocess.run(
        [sys.executable, "-c", CHILD], check=False, cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def child_says(code: str, *args: str, **env: str) -> str:
    environment = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "ARROW_DEFAULT_MEMORY_POOL")
    }
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        check=True, cwd=PROJECT, capture_output=True, text=True, timeout=120, env={**environment, **env},
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]  # its last line: what the child printed last


OPENBLAS_THREADS = """
import sys, campaign
status = campaign.main(["score", sys.argv[1], "--offline", "--output", sys.argv[2]])
from threadpoolctl import threadpool_info
print(status, *sorted({i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"}))
"""


def test_an_offline_run_keeps_openblas_to_one_thread_unless_the_user_chose(tmp_path: Path) -> None:
    # OpenBLAS reads its setting once, as numpy loads: campaign.py must set it before anything loads numpy
    source = tmp_path / "in.csv"
    source.write_text("".join(DATA_PATH.read_text().splitlines(keepends=True)[:50]))
    run = [OPENBLAS_THREADS, str(source), str(tmp_path / "out.csv")]
    assert child_says(*run) == "0 1"
    assert child_says(*run, OPENBLAS_NUM_THREADS="2") == "0 2"


ARROW_POOL = """
from churn.campaign.offline.process import prepare_offline_process
prepare_offline_process()
import pyarrow as pa
print(pa.default_memory_pool().backend_name)
"""


def test_an_offline_process_gives_arrow_jemalloc_unless_the_user_chose_a_pool() -> None:
    import pyarrow as pa  # noqa: PLC0415

    expected = "jemalloc" if "jemalloc" in pa.supported_memory_backends() else pa.default_memory_pool().backend_name
    assert child_says(ARROW_POOL) == expected
    assert child_says(ARROW_POOL, ARROW_DEFAULT_MEMORY_POOL="system") == "system"
