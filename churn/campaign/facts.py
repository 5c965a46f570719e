"""What a plan and a report need to know about each input row beyond its score: its monthly charges and
its segment (contract x internet service), read from the input file itself.

Row i of these facts is the input row that output row i answers (read_rows' rows: blank lines are not
rows, an unreadable JSON line is one). Keys and values are read as the service's validator reads
them (features.normalize, contract.read_number). A value it would refuse is read as far as it goes
(NaN for what is not a number): only a rejected row can hold one, and a rejected row is neither
contacted nor counted in a segment. Reading the input again, rather
than carrying the facts through each scoring path, gives every path (online, --async, --offline,
resumed) the same facts by construction.

A plain CSV file (no quote character, no bare carriage return, every row with the header's cells) is
read by Arrow, each distinct cell text judged once by the same functions; any other file by read_rows.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from churn.campaign.arrowtext import read_csv_file
from churn.campaign.rows import JSONL_SUFFIXES, Unreadable, read_rows
from churn.core import features
from churn.core.contract import FieldError, read_number

MONTHLY, CONTRACT, INTERNET = "monthlycharges", "contract", "internetservice"
FIELDS = (MONTHLY, CONTRACT, INTERNET)
BOM = "\ufeff"


@dataclass(frozen=True)
class Facts:
    monthly_charges: np.ndarray  # float64, NaN where not a number the validator accepts
    contract: np.ndarray  # object array of canonical spellings ("" where unknown)
    internet_service: np.ndarray

    def __len__(self) -> int:
        return len(self.monthly_charges)

    @classmethod
    def none(cls) -> Facts:
        return cls.without_segments(np.empty(0))

    @classmethod
    def without_segments(cls, monthly_charges: np.ndarray) -> Facts:
        """Monthly charges only (the segments not read: empty)."""
        return cls(monthly_charges, np.empty(0, dtype=object), np.empty(0, dtype=object))


def number(value: Any) -> float:
    found = read_number(MONTHLY, value, blank=None)
    return float("nan") if isinstance(found, FieldError) else found


def category(value: Any) -> str:
    return features.normalize(value) if isinstance(value, str) else ""


def read_facts(path: Path, segments: bool = True) -> Facts:
    """The facts of every row of the input, in order (without segments: "" for each, and a faster read)."""
    fast = arrow_facts(path, segments) if path.suffix.lower() not in JSONL_SUFFIXES else None
    return fast if fast is not None else python_facts(path)


def python_facts(path: Path) -> Facts:
    monthly: list[float] = []
    contract: list[str] = []
    internet: list[str] = []
    for row in read_rows(path):
        record = canonical(row)
        monthly.append(number(record.get(MONTHLY)))
        contract.append(category(record.get(CONTRACT)))
        internet.append(category(record.get(INTERNET)))
    return Facts(
        np.array(monthly, dtype=np.float64), np.array(contract, dtype=object), np.array(internet, dtype=object)
    )


def canonical(row: Any) -> dict[str, Any]:
    """A row's values by the model's names (a later spelling of a name wins: such a row is rejected anyway)."""
    if isinstance(row, Unreadable) or not isinstance(row, dict):
        return {}
    return {features.normalize(k): v for k, v in row.items() if isinstance(k, str)}


def plain_csv(path: Path) -> bool:
    """No quote character and no carriage return outside a CRLF line end."""
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            if b'"' in block or (b"\r" in block and block.count(b"\r") != block.count(b"\r\n")):
                return False
    return True


def arrow_facts(path: Path, segments: bool = True) -> Facts | None:
    """The facts through Arrow's reader, or None where it might not read the rows as read_rows does."""
    if not plain_csv(path):
        return None
    with path.open(newline="", encoding="utf-8-sig") as text:
        header = next(csv.reader(text), None)
    if not header or len(set(header)) != len(header):
        return None  # read_rows refuses such a file; so will the run
    names = {features.normalize(h): h for h in header}  # the last spelling of a name, as canonical() keeps it
    wanted = [names[f] for f in (FIELDS if segments else (MONTHLY,)) if f in names]
    read = pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=8 << 20)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()), include_columns=wanted, strings_can_be_null=False
    )
    try:
        table = read_csv_file(path, read, convert)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None  # a row with another number of cells, bytes that are not UTF-8: read_rows decides
    n = table.num_rows

    def column(name: str, judge: Callable[[Any], Any], dtype: Any, missing: Any) -> np.ndarray:
        if names.get(name) not in wanted:
            return np.full(n, missing, dtype=dtype)
        encoded = pc.dictionary_encode(table.column(names[name])).combine_chunks()
        distinct = np.array([judge(v) for v in encoded.dictionary.to_pylist()], dtype=dtype)
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        return distinct[indices] if len(distinct) else np.full(n, missing, dtype=dtype)

    return Facts(
        column(MONTHLY, number, np.float64, np.nan),
        column(CONTRACT, category, object, ""),
        column(INTERNET, category, object, ""),
    )
