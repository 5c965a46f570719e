"""The end-of-run summary: counted from the rows as they are written, on every path.

A fresh run counts each chunk or block it writes (OutputColumns.count); a resumed run first reads back
the rows earlier runs wrote (read_back, which also tells the resume whether the output holds what its
state records: churn.campaign.state), through the same Summary.add, so the summary covers the whole
output either way.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from churn.files import printable

Row = dict[str, str]  # an output row as csv.DictReader reads it


@dataclass
class Summary:
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    churners: int = 0
    top: list[Row] = field(default_factory=list)  # the highest-risk scored rows, highest first
    keep: int = field(default=0, compare=False)  # how many of them (--top)
    ranked: list[tuple[bool, float, int]] = field(default_factory=list, compare=False, repr=False)  # top's keys

    def add(
        self, rejected: np.ndarray, churn: np.ndarray, probabilities: np.ndarray, row: Callable[[int], Row]
    ) -> None:
        """Count the next len(rejected) output rows; row(i) gives the i-th of them, for the few kept as the top.

        The top keeps the earlier row among equal probabilities, as heapq.nlargest over the file would;
        a NaN probability (no service answers one) ranks below every number, as np.argsort puts it.
        """
        scored = ~rejected
        if self.keep > 0:
            at = np.flatnonzero(scored)
            best = at[np.argsort(-probabilities[at], kind="stable")[: self.keep]].tolist()
            found = [(rank_key(float(probabilities[i]), self.rows + i), row(i)) for i in best]
            merged = sorted([*zip(self.ranked, self.top, strict=True), *found], key=lambda r: r[0])[: self.keep]
            self.ranked, self.top = [k for k, _ in merged], [r for _, r in merged]
        self.rows += len(rejected)
        self.scored += int(scored.sum())
        self.rejected += int(rejected.sum())
        self.churners += int((churn & scored).sum())

    def lines(self) -> list[str]:
        out = [f"rows {self.rows}  scored {self.scored}  rejected {self.rejected}  churners {self.churners}"]
        if self.top:
            out.append(f"top {len(self.top)} by churn probability:")
            out += [
                f"  {printable(r['customerid']) or '-'}  {r['churn_probability']}  p{r['percentile']}  {r['reasons']}"
                for r in self.top
            ]
        return out


def rank_key(probability: float, row: int) -> tuple[bool, float, int]:
    """Where a scored row ranks for the top: higher probability first, NaN last, then file order."""
    nan = math.isnan(probability)
    return nan, 0.0 if nan else -probability, row


class NotAnOutput(ValueError):
    """A file read back as a campaign output is not one; the message says where."""


def read_back(
    path: Path, summary: Summary, columns: tuple[str, ...] = (), size: int | None = None, chunk: int = 10_000
) -> int:
    """Add the rows of an output file, or of its first `size` bytes, to the summary; return how many.

    The header must start with `columns` and every row have as many cells as the header: NotAnOutput
    otherwise (csv.Error, UnicodeDecodeError or ValueError for text that is not the output's CSV).
    """
    with path.open("rb", buffering=0) as raw:
        limited = raw if size is None else Prefix(raw, size)
        text = io.TextIOWrapper(io.BufferedReader(limited), encoding="utf-8", newline="")
        reader = csv.reader(text, strict=True)
        header = next(reader, [])
        if tuple(header[: len(columns)]) != columns:
            raise NotAnOutput(f"{printable(path)}: the first line is not the header of a campaign output")
        rows = (output_row(header, cells, reader.line_num) for cells in reader)
        count = 0
        while part := list(islice(rows, chunk)):
            rejected = np.array([r["error"] != "" for r in part], dtype=bool)
            churn = np.array([r["churn"] == "true" for r in part], dtype=bool)
            probabilities = np.array([float(r["churn_probability"] or 0) for r in part])
            summary.add(rejected, churn, probabilities, part.__getitem__)
            count += len(part)
    return count


class Prefix(io.RawIOBase):
    """The first `size` bytes of a file, read as a file of their own: a limit in bytes (the state's
    output_bytes) under a text reader."""

    def __init__(self, file: io.RawIOBase, size: int):
        self.file, self.left = file, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.file.readinto(memoryview(buffer).cast("B")[: self.left]) or 0
        self.left -= n
        return n


def output_row(header: list[str], cells: list[str], line: int) -> Row:
    if len(cells) != len(header):
        raise NotAnOutput(f"line {line} of the output has {len(cells)} cells, not {len(header)}")
    return dict(zip(header, cells, strict=True))


def write_rows(path: Path, rows: list[Row], columns: tuple[str, ...]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
