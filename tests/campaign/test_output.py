"""The campaign's one writer writes what the output format promises (tests/support/output_spec.py), for any
prediction a service could answer, and each Arrow text kernel is Python's own text over the whole domain."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.campaign import arrowtext
from churn.campaign.output import HEADER, OUTPUT_COLUMNS, from_predictions
from churn.campaign.summary import Summary, read_back
from tests.support.output_spec import COLUMNS, csv_line, expected_csv, neutralized

# Any text a file or a JSON body can carry (lone surrogates are not text: the readers refuse them).
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
AWKWARD = st.sampled_from(['say "hi", bye', "a;b\tc", "x\ry", "two\nlines", "=1+2", "@SUM(A1)", "-5", "\tfoo", "é", ""])
CELL = TEXT | AWKWARD
CODE = st.dictionaries(st.sampled_from(["field", "code"]), CELL, min_size=2)


@st.composite
def predictions(draw: Any) -> dict[str, Any]:
    customerid = draw(st.none() | CELL | st.integers())
    if draw(st.booleans()):
        return {"customerid": customerid, "error": {"code": draw(CELL), "message": draw(CELL)}}
    out: dict[str, Any] = {
        "customerid": customerid,
        "churn_probability": draw(st.floats(0, 1) | st.floats()),
        "churn": draw(st.booleans()),
        "percentile": draw(st.floats(0, 100) | st.floats()),
    }
    if draw(st.booleans()):
        out["reasons"] = [{"code": c} for c in draw(st.lists(CELL, max_size=3))]
    if draw(st.booleans()):
        out["warnings"] = draw(st.lists(CODE, max_size=2))
    return out


def test_the_writers_columns_are_the_promised_ones() -> None:
    assert OUTPUT_COLUMNS == COLUMNS and expected_csv([]) == HEADER


@settings(max_examples=400, deadline=None)
@given(st.lists(predictions(), max_size=12), st.none() | st.floats(0, 1))
def test_any_predictions_are_written_as_the_format_promises(
    rows: list[dict[str, Any]], threshold: float | None
) -> None:
    written = from_predictions(rows, threshold).text()
    assert HEADER + written.data == expected_csv(rows, threshold)
    assert len(written) == len(rows)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(predictions(), max_size=8), max_size=4), st.integers(0, 5))
def test_the_summary_counted_while_writing_is_the_one_read_back(
    tmp_path_factory: Any, chunks: list[list[dict[str, Any]]], top: int
) -> None:
    path = Path(tmp_path_factory.mktemp("out")) / "out.csv"
    counted = Summary(keep=top)
    with path.open("wb") as f:
        f.write(HEADER)
        for chunk in chunks:
            written = from_predictions(chunk).text()
            f.write(written.data)
            written.count(counted)
    read = Summary(keep=top)
    read_back(path, read)
    assert counted == read
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    scored = [r for r in rows if not r["error"]]
    assert (counted.rows, counted.scored, counted.rejected) == (len(rows), len(scored), len(rows) - len(scored))
    assert counted.churners == sum(r["churn"] == "true" for r in scored)
    assert counted.top == sorted(scored, key=highest_first)[:top]  # a stable sort: file order among equals


def highest_first(row: dict[str, str]) -> tuple[bool, float]:
    """The top's order, stated plainly: by probability, highest first, a NaN below every number."""
    p = float(row["churn_probability"])
    return (True, 0.0) if math.isnan(p) else (False, -p)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(), max_size=50))
def test_float_text_is_repr(values: list[float]) -> None:
    assert arrowtext.float_text(np.array(values)).to_pylist() == [repr(v) for v in values]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.floats(min_value=0.0, max_value=100.0)
        | st.sampled_from([0.00005, 12.34565, 99.99995, 100.0, 100.00004, 100.00005])
        | st.floats(),
        min_size=1,
    )
)
def test_fixed4_text_is_python_formatting(values: list[float]) -> None:
    assert arrowtext.fixed4_text(np.array(values)).to_pylist() == [f"{v:.4f}" for v in values]


@given(st.lists(CELL, min_size=1, max_size=20))
def test_quoting_is_rfc_4180s_and_reads_back_whole(values: list[str]) -> None:
    got = arrowtext.quoted(pa.array(values)).to_pylist()
    assert [csv_line([v, "x"]) for v in values] == [g + ",x\n" for g in got]
    assert [next(csv.reader(io.StringIO(g + ",x\n", newline=""))) for g in got] == [[v, "x"] for v in values]
    assert [arrowtext.quote_one(v) for v in values] == got


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from('=+-@\t\r"a é'), max_size=4), min_size=1, max_size=20))
def test_formula_cells_are_neutralized(cells: list[str]) -> None:
    got = arrowtext.neutralized(pa.array(cells, pa.string())).to_pylist()
    assert got == [neutralized(c) for c in cells]
    offset = arrowtext.neutralized(pa.array(["x", *cells], pa.string()).slice(1)).to_pylist()
    assert offset == got


@given(
    st.integers(0, 30).flatmap(lambda n: st.tuples(st.just(n), st.dictionaries(st.integers(0, max(n - 1, 0)), CELL)))
)
def test_a_sparse_column_holds_its_few_cells_quoted(case: tuple[int, dict[int, str]]) -> None:
    n, cells = case
    cells = {i: c for i, c in cells.items() if i < n}
    got = arrowtext.sparse_text(n, cells)
    want = [arrowtext.quote_one(cells.get(i, "")) for i in range(n)]
    assert (got.to_pylist() if isinstance(got, pa.Array) else [got] * n) == want
