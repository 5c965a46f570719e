"""An offline campaign process spares itself pyarrow's import of pandas, and pandas still works after."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import PROJECT

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
