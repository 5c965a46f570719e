"""The one rule of a CSV body (churn.core.records.csv_table): one cell per column on every line, or refused."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.core import features
from churn.core.records import HEADER_NAMES, InputError, csv_rows, csv_table

# data cells: any text, never a column name (two of those on the first line would make it a header)
CELL = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r"), max_size=6).filter(
    lambda cell: features.normalize(cell) not in HEADER_NAMES
)


def written(lines: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return out.getvalue()


@settings(deadline=None)
@given(header=st.booleans(), rows=st.lists(st.sampled_from([20, 20, 20, 1, 19, 21]).flatmap(
    lambda width: st.lists(CELL, min_size=width, max_size=width)), max_size=6))  # fmt: skip
def test_every_line_holds_one_cell_per_column_or_the_first_other_is_named(header: bool, rows: list[list[str]]) -> None:
    """Under a header or without one (the export's 20 columns); lines counted as the file counts them, a quoted
    cell's line breaks included."""
    columns = [features.ID_FIELD, *features.FIELDS] if header else list(features.EXPORT_COLUMNS)
    text = written([columns] * header + rows)
    heights = [written([row]).count("\n") for row in rows]  # a quoted cell's line breaks make a record taller
    starts = [1 + header + sum(heights[:i]) for i in range(len(rows))]
    # A line of one cell that is empty or white space only is a blank line, no record (as in JSON Lines).
    records = [(start, row) for start, row in zip(starts, rows, strict=True) if len(row) > 1 or row[0].strip()]
    ragged = [(start, row) for start, row in records if len(row) != len(columns)]
    if ragged:
        with pytest.raises(InputError, match=f"^line {ragged[0][0]} of the CSV has {len(ragged[0][1])} cells"):
            csv_table(text)
        return
    table = csv_table(text)
    assert table.header == header and table.rows == [dict(zip(columns, row, strict=True)) for _, row in records]


@pytest.mark.parametrize("text", ["customerid,customerid\n1,2\n", "customerid,tenure,\n1,2,3\n"])
def test_a_header_names_distinct_non_blank_columns(text: str) -> None:
    with pytest.raises(InputError, match="distinct, non-blank"):
        csv_table(text)


BLANK_LINES = ["", "   ", "\t", " \t ", '""', '"  "', "\u00a0", "\u3000"]


@pytest.mark.parametrize("blank", BLANK_LINES, ids=repr)
def test_a_blank_line_is_no_record_on_every_csv_reader(blank: str) -> None:
    """Empty or white space only, quoted or not: skipped by the body reader and the file reader alike,
    and the lines after it keep the numbers the file gives them."""
    columns = [features.ID_FIELD, "tenure"]
    text = f"{','.join(columns)}\n{blank}\nx-1,3\n{blank}\nx-2,4,5\n"
    with pytest.raises(InputError, match=r"^line 5 of the CSV has 3 cells"):
        csv_table(text)
    rows = list(csv_rows(text.splitlines(keepends=True), "in.csv"))
    assert rows[0] == {"customerid": "x-1", "tenure": "3"} and len(rows) == 2
    assert isinstance(rows[1], InputError) and str(rows[1]).startswith("line 5 of the CSV has 3 cells")
