"""A campaign run: stream rows in chunks to a scorer with bounded concurrency, write results in input order.

Crash safety: each chunk's rows are appended to the output in input order and fsynced, then the
sidecar state file (OUTPUT.state.json, replaced atomically) records how many input rows and output
bytes are done. The offline engine for CSV files (churn.campaign.offline.engine) writes blocks of ~30,000 rows and
checkpoints the same way about once a second and at the end; a resumed run goes on with the chunked
path from the recorded row (same bytes), as does a run whose file the engine cannot read exactly.
The state never claims more than the disk holds, so a resumed run truncates the output to the
recorded size, skips the recorded rows and carries on: no row lost, none twice. The state file is
read back as input all the same (churn.campaign.state): a resume goes on only from a state that the
output and the input agree with, and refuses any other before it touches the output.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from churn.campaign.arrowtext import text_view
from churn.campaign.carried import Carried, Unwritten
from churn.campaign.files import state_path, written_files
from churn.campaign.ordered import ordered_map
from churn.campaign.output import HEADER, OutputText, from_predictions
from churn.campaign.progress import Progress
from churn.campaign.rows import JSONL_SUFFIXES, BackgroundDigest, Unreadable, chunked, read_rows
from churn.campaign.scorers import ChunkScorer, OfflineScorer
from churn.campaign.state import (
    ResumeError,
    RunState,
    check_output,
    check_resumable,
    check_rows_left,
    load_state,
)
from churn.campaign.summary import Summary
from churn.files import check_written, naming

CHECKPOINT_SECONDS = 1.0  # the fast offline path makes its output durable about this often (and at the end)
# A plan run's rows are held unwritten until its first checkpoint, as long as they are at most this
# much text: a run that ends first writes its output once, with the plan's columns (OutputWriter).
HOLD_BYTES = 256 << 20

__all__ = ["ModelChanged", "ResumeError", "RunOptions", "RunState", "run", "state_path"]  # the state's: for callers


class ModelChanged(Exception):
    """The service's model changed during the run, which would mix two models' scores in one output."""


@dataclass(frozen=True)
class RunOptions:
    input: Path
    output: Path
    chunk_size: int = 1000
    concurrency: int = 4
    explain: int = 0
    threshold: float | None = None
    resume: bool = False
    top: int = 0  # the summary keeps this many of the highest-risk rows
    carry: bool = False  # the offline engine keeps what a plan needs (RunState.carried)


def identity(options: RunOptions) -> dict[str, Any]:
    """The options that change the output's content: a resumed run must use the same ones."""
    return {"explain": options.explain, "threshold": options.threshold}


def open_state(options: RunOptions, digest: BackgroundDigest | None = None) -> RunState:
    """The state to continue from (with --resume and a matching state file), else a fresh one; either
    way with its summary of the rows the output already holds.

    The input is hashed on a background thread (`digest`, when the caller started it early, as
    campaign.py does before loading the model): a fresh run's state needs the digest only once it
    claims rows; a resumed run checks it before anything else, then the output against the state.
    """
    path = state_path(options.output)
    digest = digest or BackgroundDigest(options.input)
    summary = Summary(keep=options.top)
    if options.resume and path.exists() and options.output.exists():
        state = load_state(path, options.output)
        # No digest (saved before it was known) or no row recorded: nothing to resume, so start over
        # (the output may hold anything then: the header, or a plan run's rows written since, churn.campaign.carried)
        if state.input_sha256 and (state.rows_done or state.complete):
            check_resumable(state, options.output, identity(options), digest.result())
            state.summary = summary
            check_output(state, options.output)
            return state
    return RunState(input_sha256="", options=identity(options), path=path, digest=digest, summary=summary)


class OutputWriter:
    """Append output rows, making them durable (fsync, then the state) at each checkpoint.

    With hold, rows handed to add() are kept in memory, unwritten, until a checkpoint is due or HOLD_BYTES
    of them are held: only then are they written (and from then on as they come). Until that first
    checkpoint the state records no row whichever way, so holding them loses nothing a crash would not;
    a run that ends first has them all in `held`, and its plan writes the output once (churn.campaign.carried).
    """

    def __init__(self, state: RunState, output: Path, hold: bool = False):
        self.state = state
        self.output = output
        self.pending_rows = 0
        self.last_checkpoint = time.monotonic()
        self.held: list[pa.Array] | None = [] if hold else None
        self.held_bytes = 0
        if state.output_bytes:
            with naming(output), output.open("r+b") as f:  # drop whatever a crash left after the last recorded chunk
                f.truncate(state.output_bytes)
            self.file = output.open("ab")
        else:
            self.file = output.open("wb")
            try:
                self.write(HEADER, rows=0, durable=True)
            except BaseException:  # e.g. the input's digest failed: the caller never gets a writer to close
                self.close()
                raise

    def add(self, text: OutputText) -> None:
        """The next rows: held while holding, else written."""
        if self.held is None:
            self.write(text.data, len(text))
            return
        if len(text):
            self.held.append(text.lines)
            self.held_bytes += len(text.data)
        if self.held_bytes > HOLD_BYTES or self.checkpoint_due():
            self.release()

    def release(self) -> None:
        """Write the rows held (if any), and hold no more."""
        held, self.held = self.held or [], None
        for lines in held:
            self.write(text_view(lines), len(lines))

    def write(self, data: bytes | memoryview, rows: int, durable: bool = False) -> None:
        """Write output bytes for `rows` input rows; durable now, or at the next checkpoint due."""
        with naming(self.output):
            self.file.write(data)
        self.pending_rows += rows
        if durable or self.checkpoint_due():
            self.checkpoint()

    def checkpoint_due(self) -> bool:
        return time.monotonic() - self.last_checkpoint >= CHECKPOINT_SECONDS

    def checkpoint(self) -> None:
        """fsync what was written, then record it in the state: the state never claims more than the disk holds."""
        with naming(self.output):
            self.file.flush()
            os.fsync(self.file.fileno())
        self.state.rows_done += self.pending_rows
        self.pending_rows = 0
        self.state.output_bytes = self.file.tell()
        self.state.save()
        self.last_checkpoint = time.monotonic()

    def close(self) -> None:
        with naming(self.output):  # what is still buffered is written now
            self.file.close()


def score_chunk(scorer: ChunkScorer, rows: Sequence[Any], threshold: float | None) -> tuple[str | None, OutputText]:
    """Score the readable rows of a chunk; every row, readable or not, gets its output row in place."""
    readable = [i for i, row in enumerate(rows) if not isinstance(row, Unreadable)]
    body = scorer([rows[i] for i in readable]) if readable else {"model_version": None, "predictions": []}
    predictions: list[dict[str, Any]] = [
        {"customerid": None, "error": {"code": row.code, "message": row.message}} if isinstance(row, Unreadable) else {}
        for row in rows
    ]
    for i, prediction in zip(readable, body["predictions"], strict=True):
        predictions[i] = prediction
    return body.get("model_version"), from_predictions(predictions, threshold).text()


def check_model(state: RunState, version: str | None) -> None:
    if version is None:
        return
    if state.model_version is None:
        state.model_version = version
    elif state.model_version != version:
        raise ModelChanged(
            f"the run started with model {state.model_version} but the service now answers with {version}: "
            "start a fresh run (without --resume) so that every row is scored by one model"
        )


def run(
    options: RunOptions,
    scorer: ChunkScorer,
    progress: Progress,
    stop: threading.Event | None = None,
    digest: BackgroundDigest | None = None,
) -> RunState:
    """Score every row not yet done; the state says how far it got even when this raises.

    SameFile, before any file is opened, when the output or its own files are the input, and NotAFile
    when one of them is not a regular file (campaign.py checks every file of a run before calling this;
    a caller from Python gets this much at least).
    """
    check_written({"the input": options.input}, written_files(options.output))
    state = open_state(options, digest)
    if state.complete:
        return state
    engine = scorer if isinstance(scorer, OfflineScorer) and fast_path_applies(options, state) else None
    if engine is None:
        start_counted(progress, options.input, state)
    else:  # the engine counts nothing first: a header it cannot take is still refused before the output is touched
        next(iter(read_rows(options.input)), None)
    # a resumed run: the output cut to what the state records; a plan run's engine holds rows (OutputWriter)
    writer = OutputWriter(state, options.output, hold=engine is not None and options.carry)
    try:
        if engine is not None:
            if run_fast(options, engine, state, writer, progress):
                return state
            start_counted(progress, options.input, state)  # the rest goes the chunked way
        rows = itertools.islice(read_rows(options.input), state.rows_done, None)
        score = functools.partial(score_chunk, scorer, threshold=options.threshold)
        # stop.set(): calls in flight stop retrying when the run ends early
        interrupt = stop.set if stop is not None else None
        chunks = chunked(rows, options.chunk_size)
        for version, text in ordered_map(score, chunks, options.concurrency, name="score", interrupt=interrupt):
            check_model(state, version)
            writer.write(text.data, len(text), durable=True)
            text.count(state.summary)
            progress.advance(len(text))
        state.complete = True
        state.save()
    finally:
        writer.close()
        progress.finish()
    return state


def start_counted(progress: Progress, path: Path, state: RunState) -> None:
    """Start the bar at the input's row count, which a resumed state must not exceed (checked before
    the output is touched: such a state is not this run's)."""
    total = count_rows(path)
    check_rows_left(state, total)
    progress.start(total, state.rows_done)


def fast_path_applies(options: RunOptions, state: RunState) -> bool:
    """The offline engine takes fresh runs over CSV files; a resumed run continues on the chunked path."""
    return state.rows_done == 0 and options.input.suffix.lower() not in JSONL_SUFFIXES


def run_fast(
    options: RunOptions, scorer: OfflineScorer, state: RunState, writer: OutputWriter, progress: Progress
) -> bool:
    """Score with the offline engine, as far as it goes; True when it did the whole file (then, with
    options.carry, state.carried holds what the plan needs of every row, and the rows themselves if
    the writer still held them: the state is then completed once the plan has written them)."""
    check_model(state, scorer.service.model.version)
    progress.start(0, 0, size=options.input.stat().st_size)  # the share read, not a row count: no extra pass
    fast = scorer.fast_run(options.input)
    carried = Carried() if options.carry else None
    for text in fast.blocks():
        writer.add(text)
        text.count(state.summary)
        if carried is not None:
            carried.add(text)
        progress.advance(len(text), position=fast.bytes_done)
    if fast.finished and carried is not None and writer.held is not None:
        carried.unwritten = Unwritten(writer.held, state, options.output)
        state.carried = carried
        return True
    writer.release()
    writer.checkpoint()
    if fast.finished:
        state.complete = True
        state.save()
        state.carried = carried
    return fast.finished


def count_rows(path: Path) -> int:
    return sum(1 for _ in read_rows(path))
