"""Offline scoring of a CSV file: streamed, vectorized, one output row per input row, in input order.

The engine behind `campaign.py score INPUT.csv --offline`. The input is cut into blocks of whole
lines, and churn.csvblock validates, scores and formats each block column-wise, two blocks at a time
on two threads (Arrow's reader and kernels release the GIL). Memory is bounded by a few blocks.

The output bytes are those the chunked campaign path writes (churn.rowio.output_row through
csv.writer): the same float text (repr), true/false, percentile with 4 decimals, reasons joined
with ";", "<code>: <message>" errors and csv.writer's quoting. tests/test_offline.py compares them.

A block Arrow would not read exactly as csv.reader does (a quote character anywhere, a bare carriage
return, a row with another number of cells than the header, bytes that are not UTF-8) stops the
fast path there: `FastRun.finished` stays False and the caller carries on from `rows_done` with the
Python reader, which then gives those rows their usual treatment (and their usual errors).
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from churn.csvblock import BlockResult, BlockScorer
from churn.report import Summary
from churn.rowio import OUTPUT_COLUMNS
from churn.service import ChurnService

CHUNK_BYTES = 4 << 20  # ~30,000 Telco rows per block: bounded memory, few Python calls per row
WORKERS = 2  # blocks parsed and scored at once (the machines this runs on have 2 cores)
BOM = b"\xef\xbb\xbf"


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
    with open(output_path, "wb") as out:
        out.write((",".join(OUTPUT_COLUMNS) + "\n").encode())
        for _, data in run.blocks():
            out.write(data)
    if not run.finished:
        raise ValueError(f"{input_path}: {run.stopped}")
    return run.summary


class FastRun:
    """One pass of the fast path over a CSV file: yields (rows, output bytes) per block, in order."""

    def __init__(self, path: Path, service: ChurnService, explain: int, chunk_bytes: int | None = None):
        self.path = path
        self.service = service
        self.explain = explain
        self.chunk_bytes = chunk_bytes or CHUNK_BYTES
        self.summary = Summary()
        self.rows_done = 0
        self.bytes_done = 0  # of the input, header included: the progress bar's share
        self.finished = False
        self.stopped = ""  # why the fast path stopped early

    def blocks(self) -> Iterator[tuple[int, bytes]]:
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
            yield from self.in_order(scorer, whole_lines(f, self.chunk_bytes))

    def in_order(self, scorer: BlockScorer, blocks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
        for size, result in scored_in_order(scorer, blocks):
            if isinstance(result, str):
                self.stopped = result
                return
            rows, data, summary = result
            for key in ("rows", "scored", "rejected", "churners"):
                setattr(self.summary, key, getattr(self.summary, key) + getattr(summary, key))
            self.rows_done += rows
            self.bytes_done += size
            yield rows, data
        self.finished = True


def scored_in_order(scorer: BlockScorer, blocks: Iterator[bytes]) -> Iterator[tuple[int, BlockResult]]:
    """Each block's size and result in input order, WORKERS blocks in flight (plus the one being read)."""
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="offline")
    pending: deque[tuple[int, Future[BlockResult]]] = deque()
    try:
        for block in blocks:
            pending.append((len(block), pool.submit(scorer.block, block)))
            if len(pending) > WORKERS:
                size, future = pending.popleft()
                yield size, future.result()
        while pending:
            size, future = pending.popleft()
            yield size, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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


def whole_lines(f: io.BufferedReader, size: int) -> Iterator[bytes]:
    """The rest of a binary file in blocks of about `size` bytes that end at a line end."""
    rest = b""
    while True:
        data = f.read(size)
        if not data:
            if rest:
                yield rest
            return
        data = rest + data if rest else data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            continue
        yield data[:cut]
        rest = data[cut:]
