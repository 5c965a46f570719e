"""A finished run's outcome: the output read back beside its input's facts, and the plan applied to it.

Selection within a budget needs every score first, so the plan is applied once the output holds every
row, whichever path wrote it (online, --async, --offline) and however many runs it took (--resume):
the scores are read back from the output, the facts (monthly charges, segment) from the input
(churn.campaign.facts), and the output is replaced, atomically, by the same rows with the plan's
columns at the end of each (PLAN_COLUMNS and their text: churn.campaign.output). Without a plan the
file is left as it is, byte for byte (an output planned before loses its plan columns). The same output,
input and plan options always give the same bytes, and a resumed run that finds the plan applied
already applies it again from the same scores: the same bytes again.

One shortcut, for a plan without a report after the offline engine wrote every row in one fresh run:
the engine's own scores, monthly charges and line ends (churn.campaign.carried) stand in for the
read-back and the input's facts; they are the same numbers (tests/campaign/test_carried.py), and the
rows keep their own bytes, so the output is the same.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from churn.campaign.arrowtext import quote_one, read_csv_file, text_bytes, text_view
from churn.campaign.carried import Carried, Unwritten
from churn.campaign.facts import Facts, python_facts, read_facts
from churn.campaign.files import plan_tmp_path
from churn.campaign.ordered import ordered_map
from churn.campaign.output import HEADER, OUTPUT_COLUMNS, PLAN_COLUMNS, plan_cells
from churn.campaign.plan import PlanFigures, PlanOptions, expected_values, figures, select
from churn.files import naming, printable

BLOCK_BYTES = 8 << 20  # the output is rewritten this much at a time: memory stays bounded
WORKERS = min(2, os.cpu_count() or 1)  # blocks rewritten at once, as the offline engine scores them


class OutputMismatch(Exception):
    """The output does not answer the input row for row (it was not written from this input)."""


@dataclass(frozen=True)
class Scores:
    """The output's scored rows, read back: NaN probability for a rejected row."""

    probabilities: np.ndarray
    churn: np.ndarray  # bool (empty: not read)
    reasons: pa.Array  # the reasons cells, strings (empty: not read)
    columns: tuple[str, ...]  # the file's header

    def __len__(self) -> int:
        return len(self.probabilities)


@dataclass(frozen=True)
class Outcome:
    scores: Scores
    facts: Facts
    plan: PlanOptions | None
    values: np.ndarray  # expected values (NaN: not scored, or no plan)
    selected: np.ndarray  # bool
    figures: PlanFigures | None


def conclude(
    input_path: Path,
    output: Path,
    plan: PlanOptions | None,
    *,
    for_report: bool = True,
    carried: Carried | None = None,
) -> Outcome:
    """Apply the plan (if any) to a finished output; what the summary and (for_report) the report show.

    carried: what the offline engine held of every row of the output it just wrote (churn.campaign.carried):
    a plan without a report then reads neither the output nor the input.
    """
    if carried is not None and plan is not None and not for_report:
        return conclude_carried(output, carried, plan)
    scores = read_scores(output, details=for_report)
    facts = read_facts(input_path, segments=for_report) if plan is not None or for_report else Facts.none()
    if (plan is not None or for_report) and len(facts) != len(scores):
        facts = python_facts(input_path)  # Arrow's reading and read_rows' disagreed: read_rows decides
        if len(facts) != len(scores):
            raise OutputMismatch(
                f"{printable(output)} has {len(scores)} rows but {printable(input_path)} has {len(facts)}"
            )
    n = len(scores)
    if plan is None:
        values, selected, found = np.full(n, np.nan), np.zeros(n, dtype=bool), None
    else:
        values, selected, found = planned(scores.probabilities, facts.monthly_charges, plan)
    if plan is not None or scores.columns[-len(PLAN_COLUMNS) :] == PLAN_COLUMNS:
        write_plan_columns(output, scores, values if plan is not None else None, selected)
    return Outcome(scores, facts, plan, values, selected, found)


def planned(
    probabilities: np.ndarray, monthly_charges: np.ndarray, plan: PlanOptions
) -> tuple[np.ndarray, np.ndarray, PlanFigures]:
    """Each row's expected value, whom the plan contacts, and its figures."""
    values = expected_values(probabilities, monthly_charges, plan)
    selected = select(values, plan)
    return values, selected, figures(probabilities, monthly_charges, selected, plan)


def conclude_carried(output: Path, carried: Carried, plan: PlanOptions) -> Outcome:
    """The plan applied from what the engine carried: the same values, selection and bytes as read back."""
    probabilities, monthly_charges = carried.scores()
    none = pa.array([], pa.string())
    scores = Scores(probabilities, np.zeros(0, dtype=bool), none, OUTPUT_COLUMNS)
    facts = Facts.without_segments(monthly_charges)
    values, selected, found = planned(probabilities, monthly_charges, plan)
    if carried.unwritten is not None:
        write_unwritten(carried.unwritten, carried.line_ends, values, selected)
    else:
        rewrite_carried(output, carried.line_ends, values, selected)
    return Outcome(scores, facts, plan, values, selected, found)


def base_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    return columns[: -len(PLAN_COLUMNS)] if columns[-len(PLAN_COLUMNS) :] == PLAN_COLUMNS else columns


def plain(path: Path) -> bool:
    """No quote character: every line is one row and every comma separates cells."""
    with path.open("rb") as f:
        return not any(b'"' in block for block in iter(lambda: f.read(1 << 22), b""))


def read_scores(path: Path, details: bool = True) -> Scores:
    """The output's probabilities; with details, its churn and reasons cells too (else none of them)."""
    with path.open(newline="", encoding="utf-8") as f:
        columns = tuple(next(csv.reader(f), []))
    if plain(path):
        read = pacsv.ReadOptions(block_size=8 << 20)
        wanted = ["churn_probability", "error", *(["churn", "reasons"] if details else [])]
        convert = pacsv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()), include_columns=wanted, strings_can_be_null=False
        )
        table = read_csv_file(path, read, convert)
        scored = pc.equal(table["error"], "")
        text = pc.if_else(scored, table["churn_probability"], "nan")
        probabilities = pc.cast(text, pa.float64()).to_numpy()
        if not details:
            # (built here, not at import: an Arrow conversion at import would come before the offline
            # process's own set-up, churn.campaign.offline.process)
            none = pa.array([], pa.string())
            return Scores(np.asarray(probabilities, dtype=np.float64), np.zeros(0, dtype=bool), none, columns)
        churn = pc.equal(table["churn"], "true").to_numpy()
        reasons = table["reasons"].combine_chunks()
        return Scores(np.asarray(probabilities, dtype=np.float64), np.asarray(churn, dtype=bool), reasons, columns)
    p, c, r = [], [], []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            p.append(float(row["churn_probability"]) if not row["error"] else np.nan)
            c.append(row["churn"] == "true")
            r.append(row["reasons"])
    return Scores(np.array(p, dtype=np.float64), np.array(c, dtype=bool), pa.array(r, pa.string()), columns)


def write_plan_columns(path: Path, scores: Scores, values: np.ndarray | None, selected: np.ndarray) -> None:
    """Replace the output by its rows without plan columns, plus this plan's (values None: no plan)."""
    header = ",".join(base_columns(scores.columns) + (PLAN_COLUMNS if values is not None else ()))
    cells = plan_cells(values, selected) if values is not None else None
    strip = len(base_columns(scores.columns)) < len(scores.columns)
    tmp = plan_tmp_path(path)
    if plain(path):
        with naming(path), path.open("rb") as f, tmp.open("wb") as out:
            f.readline()  # the old header
            out.write(header.encode())
            done = 0
            for lines, data in line_blocks(f):
                out.write(plain_lines(data, cells[done : done + lines] if cells is not None else None, strip))
                done += lines
            out.write(b"\n")
            out.flush()
            os.fsync(out.fileno())
    else:
        python_lines(path, tmp, header, cells)
    replace_durably(tmp, path)


def rewrite_carried(path: Path, line_ends: list[np.ndarray], values: np.ndarray, selected: np.ndarray) -> None:
    """Replace an output the engine just wrote (HEADER, then its blocks' lines) by the same rows with
    the plan cells at the end of each, reading each block's bytes at the offsets the engine recorded."""
    positions = len(HEADER) + np.cumsum([0] + [int(ends[-1]) for ends in line_ends])
    tmp = plan_tmp_path(path)
    with naming(path), path.open("rb") as f, tmp.open("wb") as out:
        if os.fstat(f.fileno()).st_size != positions[-1] or os.pread(f.fileno(), len(HEADER), 0) != HEADER:
            raise OutputMismatch(f"{printable(path)} is no longer the output the run wrote")
        starts = positions[:-1]
        texts = (os.pread(f.fileno(), int(ends[-1]), int(at)) for ends, at in zip(line_ends, starts, strict=True))
        out.write(PLANNED_HEADER)
        for block in planned_blocks(texts, line_ends, values, selected):
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    replace_durably(tmp, path)


def write_unwritten(
    unwritten: Unwritten, line_ends: list[np.ndarray], values: np.ndarray, selected: np.ndarray
) -> None:
    """Write the output once from the rows the run held (its file holds only the header so far)."""
    path = unwritten.output
    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size != len(HEADER) or f.read() != HEADER:
            raise OutputMismatch(f"{printable(path)} is no longer the output the run wrote")
    unwritten.write(PLANNED_HEADER, planned_blocks(map(text_view, unwritten.lines), line_ends, values, selected))


PLANNED_HEADER = (",".join(OUTPUT_COLUMNS + PLAN_COLUMNS) + "\n").encode()


def planned_blocks(
    texts: Iterable[bytes | memoryview], line_ends: list[np.ndarray], values: np.ndarray, selected: np.ndarray
) -> Iterator[memoryview]:
    """Each block's text (its lines as written) with the plan cells at the end of each line.

    The blocks are planned two at a time on threads, as the engine scored them (Arrow releases the GIL).
    """
    starts = np.cumsum([0] + [len(ends) - 1 for ends in line_ends])

    def planned(block: tuple[int, bytes | memoryview]) -> pa.Array:
        k, text = block
        rows = slice(starts[k], starts[k + 1])
        return with_cells(text, line_ends[k], plan_cells(values[rows], selected[rows]))

    for lines in ordered_map(planned, enumerate(texts), WORKERS, name="plan"):
        yield text_view(lines)
        yield memoryview(b"\n")  # the block's last line end


def with_cells(text: bytes | memoryview, ends: np.ndarray, cells: pa.Array) -> pa.Array:
    """Lines (line i is text[ends[i]:ends[i + 1]], its line end included) with a cell put at the end of
    each, but for the last line end, without copying the lines first: Arrow views the first line without
    its line end and each next one from the line end before it ("\\n" + its text), and joins each to its cell."""
    offsets = ends - 1
    offsets[0] = 0
    body = pa.StringArray.from_buffers(len(ends) - 1, pa.py_buffer(offsets), pa.py_buffer(text))
    joined: pa.Array = pc.binary_join_element_wise(body, cells, ",")
    return joined


def replace_durably(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def line_blocks(f: BinaryIO, size: int = BLOCK_BYTES) -> Iterator[tuple[int, bytes]]:
    """(rows, "\\n" + those rows' text without the last line end) for consecutive blocks of whole lines."""
    rest = b""
    while block := f.read(size):
        data = rest + block
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1 :]
        yield data.count(b"\n", 0, cut + 1), b"\n" + data[:cut]
    if rest:  # a last line without its line end (the writer always ends one): a row all the same
        yield 1, b"\n" + rest


def plain_lines(data: bytes, cells: pa.Array | None, strip: bool) -> bytes:
    """Rows with the plan cells put at each one's end, by Arrow kernels (no quote in the file).

    data is "\\n" + the rows' text: row i runs from line end i to line end i + 1 (exclusive), so the
    rows are consecutive ranges of the data itself (no copy), each one "\\n" + its text.
    """
    starts = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    offsets = np.append(starts, len(data)).astype(np.int32)
    body = pa.StringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data))
    if strip:
        body = pc.replace_substring_regex(body, ",[^,\n]*,[^,\n]*$", "")
    if cells is not None:
        body = pc.binary_join_element_wise(body, cells, ",")
    return text_bytes(body)


def python_lines(path: Path, tmp: Path, header: str, cells: pa.Array | None) -> None:
    """The same through csv.reader (the output has a quoted cell), each cell quoted again by the
    writer's own rule (quote_one: csv.writer before Python 3.13 would leave a bare carriage return bare)."""
    texts = cells.to_pylist() if cells is not None else None
    with naming(path), path.open(newline="", encoding="utf-8") as f, tmp.open("w", newline="", encoding="utf-8") as out:
        reader = csv.reader(f)
        columns = tuple(next(reader))
        keep = len(base_columns(columns))
        out.write(header + "\n")
        for i, row in enumerate(reader):
            line = ",".join(map(quote_one, row[:keep]))
            out.write(line + ("," + texts[i] if texts is not None else "") + "\n")
        out.flush()
        os.fsync(out.fileno())
