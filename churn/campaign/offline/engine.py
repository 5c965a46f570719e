"""Offline scoring of a CSV file: streamed, vectorized, one output row per input row, in input order.

The engine behind `campaign.py score INPUT.csv --offline`. The input is cut into ranges of whole
lines, and churn.campaign.offline.block reads, validates, scores and formats each range column-wise, two ranges at
a time on two threads (file reads, Arrow's reader and kernels and numpy release the GIL; forked
processes were tried instead and were no faster here). The calling thread only finds the line ends
between ranges and hands the results over in input order. Memory is bounded by a few blocks (a run
with a plan also keeps 20 bytes a row for it, and its rows until its first checkpoint:
churn.campaign.carried).

Each block's results go through the campaign's one writer (churn.campaign.output), as the chunked
path's do; tests/campaign/test_offline.py checks that both paths give the same bytes.

A block Arrow would not read exactly as csv.reader does (a quote character anywhere, a bare carriage
return, a row with another number of cells than the header, bytes that are not UTF-8) stops the
fast path there: `FastRun.finished` stays False and the caller carries on from `rows_done` with the
Python reader, which then gives those rows their usual treatment (and their usual errors).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

from churn.campaign.offline.block import BlockResult, BlockScorer
from churn.campaign.ordered import ordered_map
from churn.campaign.output import HEADER, OutputText
from churn.campaign.summary import Summary
from churn.core.service import ChurnService
from churn.files import printable

CHUNK_BYTES = 4 << 20  # ~30,000 Telco rows per block: bounded memory, few Python calls per row
# Blocks parsed and scored at once, one a core: Arrow and numpy release the GIL. Two was measured on two
# cores (docs/performance.md); more threads were never measured, so a bigger machine still runs two.
WORKERS = min(2, os.cpu_count() or 1)
BOM = b"\xef\xbb\xbf"
WINDOW = 1 << 16  # bytes read at a time while looking for the line end that closes a range


def score_csv(
    input_path: Path | str,
    output_path: Path | str,
    service: ChurnService,
    *,
    explain: int = 0,
    chunk_bytes: int = CHUNK_BYTES,
) -> Summary:
    """Score every row of input_path into output_path (header included); the threshold is the service's.

    Raises ValueError where the fast path cannot read the file (campaign.py then uses the Python reader).
    """
    run = FastRun(Path(input_path), service, explain, chunk_bytes)
    summary = Summary()
    with open(output_path, "wb") as out:
        out.write(HEADER)
        for text in run.blocks():
            out.write(text.data)
            text.count(summary)
    if not run.finished:
        raise ValueError(f"{printable(input_path)}: {run.stopped}")
    return summary


class FastRun:
    """One pass of the fast path over a CSV file: yields each block's output rows, in order."""

    def __init__(self, path: Path, service: ChurnService, explain: int, chunk_bytes: int | None = None):
        self.path = path
        self.service = service
        self.explain = explain
        self.chunk_bytes = chunk_bytes or CHUNK_BYTES
        self.rows_done = 0
        self.bytes_done = 0  # of the input, header included: the progress bar's share
        self.finished = False
        self.stopped = ""  # why the fast path stopped early

    def blocks(self) -> Iterator[OutputText]:
        with self.path.open("rb") as f:
            header = read_header(f)
            self.bytes_done = f.tell()
            if isinstance(header, str):
                self.stopped = header
                return
            scorer = BlockScorer(self.service, header, self.explain)
            if len(scorer.names) != len(header):
                self.stopped = "the header names a column twice (after normalizing case and spaces)"
                return
            if not scorer.columns:  # Arrow would read every column; the Python reader refuses each row
                self.stopped = "the header names none of the model's fields"
                return
            ranges = line_ranges(f.fileno(), f.tell(), os.fstat(f.fileno()).st_size, self.chunk_bytes)
            yield from self.in_order(scorer, ranges)

    def in_order(self, scorer: BlockScorer, ranges: Iterator[tuple[int, int]]) -> Iterator[OutputText]:
        def score(span: tuple[int, int]) -> tuple[int, BlockResult]:
            return span[1], score_range(scorer, self.path, *span)

        for size, result in ordered_map(score, ranges, WORKERS, name="offline"):
            if isinstance(result, str):
                self.stopped = result
                return
            self.rows_done += len(result)
            self.bytes_done += size
            yield result
        self.finished = True


def score_range(scorer: BlockScorer, path: Path, offset: int, length: int) -> BlockResult:
    """One range of the file, read by the worker thread itself (reads release the GIL)."""
    with path.open("rb") as f:
        return scorer.block(os.pread(f.fileno(), length, offset))


def read_header(f: io.BufferedReader) -> list[str] | str:
    """The header line's names, or why the fast path leaves this file to the Python reader."""
    line = f.readline()
    if line.startswith(BOM):
        line = line[len(BOM) :]
    if not line.endswith(b"\n") or b'"' in line or line.count(b"\r") != line.count(b"\r\n"):
        return "the header line is not plain"
    try:
        names = line.decode("utf-8").rstrip("\n").removesuffix("\r").split(",")
    except UnicodeDecodeError:
        return "the header is not UTF-8"
    if len(set(names)) != len(names) or not all(n.strip() for n in names):
        return "the header's names are not distinct and non-blank"
    return names


def line_ranges(fd: int, start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of consecutive ranges of about `size` bytes from start to end, each ending just
    after a line end (the last one at the end of the file, whether or not a line end closes it)."""
    while start < end:
        cut = line_end_after(fd, min(start + size, end) - 1, end)
        yield start, cut - start
        start = cut


def line_end_after(fd: int, position: int, end: int) -> int:
    """Just past the first line end at or after position, else the end of the file."""
    while position < end:
        window = os.pread(fd, WINDOW, position)
        found = window.find(b"\n")
        if found >= 0:
            return position + found + 1
        if not window:  # the file shrank while being read: its end is here
            return position
        position += len(window)
    return end
