"""What a fresh offline run hands its plan: each block's scores, monthly charges and line ends, in order.

A plan is applied once every row is scored (churn.campaign.outcome). When the offline engine scored
the whole file in one run, it already held, block by block, what the plan otherwise reads back from
the output and the input: the probabilities (NaN for a rejected row, as the output reads back: the
output's text is repr(), which reads back as the same double), the monthly charges it validated (the
contract's read_number, as churn.campaign.facts reads them) and where each output line ends, so the
plan rewrites the output without parsing it. A rejected row's monthly charges are NaN: it is never
contacted and gets no expected value, whatever the input holds there. 20 bytes a row (two float64 and
an int32 line end).

A run that ends before its first checkpoint is due (churn.campaign.run.OutputWriter) has not written its
rows at all: they are held here too (Unwritten), and the plan writes the output once, with its columns.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from churn.campaign.arrowtext import offsets_of
from churn.campaign.output import OutputText
from churn.files import naming

if TYPE_CHECKING:
    from churn.campaign.state import RunState


@dataclass
class Carried:
    probabilities: list[np.ndarray] = field(default_factory=list)  # per block: NaN where rejected
    monthly_charges: list[np.ndarray] = field(default_factory=list)  # per block: NaN where rejected
    line_ends: list[np.ndarray] = field(default_factory=list)  # per block: 0, then each line's end (int32)
    unwritten: Unwritten | None = None  # the rows themselves, when the run did not write them

    def add(self, text: OutputText) -> None:
        """Keep what the plan needs of the next block written."""
        columns = text.columns
        if not len(text):  # a block of blank lines: no rows, no bytes
            return
        if columns.monthly_charges is None:
            raise ValueError("a block without its monthly charges (only the offline engine's blocks carry them)")
        probabilities, monthly_charges = columns.probabilities, columns.monthly_charges
        if columns.rejected.any():  # else the block's own arrays, which nothing changes after scoring
            probabilities = np.where(columns.rejected, np.nan, probabilities)
            monthly_charges = np.where(columns.rejected, np.nan, monthly_charges)
        self.probabilities.append(probabilities)
        self.monthly_charges.append(monthly_charges)
        ends = offsets_of(text.lines)
        self.line_ends.append(ends - ends[0])

    def scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Every row's probability and monthly charges."""
        return joined(self.probabilities), joined(self.monthly_charges)


@dataclass(frozen=True)
class Unwritten:
    """A run's rows, held in memory instead of written: the output holds only its header and the state
    records no row, so a run stopped from here on (or a crash) starts over on --resume, and nothing
    durable is lost. write() puts the rows in the output once and then completes the state."""

    lines: list[pa.Array]  # per block: its output lines, each with its line end
    state: RunState
    output: Path

    def write(self, header: bytes, blocks: Iterable[bytes | memoryview]) -> None:
        """Replace the header-only output by `header` and `blocks` (every row), durably; then the state."""
        with naming(self.output), self.output.open("wb") as f:
            f.write(header)
            for block in blocks:
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        self.state.rows_done = sum(len(lines) for lines in self.lines)
        self.state.output_bytes = size
        self.state.complete = True
        self.state.save()


def joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0)
