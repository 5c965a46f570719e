"""A campaign run: stream rows in chunks to a scorer with bounded concurrency, write results in input order.

Crash safety: each chunk's rows are appended to the output in input order and fsynced, then the
sidecar state file (OUTPUT.state.json, replaced atomically) records how many input rows and output
bytes are done. The offline engine for CSV files (churn.campaign.offline.engine) writes blocks of ~30,000 rows and
checkpoints the same way about once a second and at the end; a resumed run goes on with the chunked
path from the recorded row (same bytes), as does a run whose file the engine cannot read exactly.
The state never claims more than the disk holds, so a resumed run truncates the output to the
recorded size, skips the recorded rows and carries on: no row lost, none twice.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from churn.campaign.carried import Carried
from churn.campaign.ordered import ordered_map
from churn.campaign.output import HEADER, OutputText, from_predictions
from churn.campaign.progress import Progress
from churn.campaign.rows import JSONL_SUFFIXES, BackgroundDigest, Unreadable, chunked, read_rows
from churn.campaign.scorers import ChunkScorer, OfflineScorer
from churn.campaign.summary import Summary, read_back

STATE_VERSION = 2  # 2: the output has a warnings column
CHECKPOINT_SECONDS = 1.0  # the fast offline path makes its output durable about this often (and at the end)


class ResumeError(Exception):
    """The output's state file belongs to another input or other options; the message says what to do."""


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


@dataclass
class RunState:
    """What the sidecar file records: the run's identity and how far the durable output goes."""

    input_sha256: str
    options: dict[str, Any]
    rows_done: int = 0
    output_bytes: int = 0
    complete: bool = False
    model_version: str | None = None
    version: int = STATE_VERSION
    path: Path = field(default=Path(), compare=False, repr=False)
    # Not saved: a fresh run's input digest while it is still being computed, the summary of the
    # output (counted as it is written; a resumed run reads back what earlier runs wrote), and, when
    # asked for and the offline engine wrote every row, what it hands the plan.
    digest: BackgroundDigest | None = field(default=None, compare=False, repr=False)
    summary: Summary = field(default_factory=Summary, compare=False, repr=False)
    carried: Carried | None = field(default=None, compare=False, repr=False)

    def save(self) -> None:
        """Replace the state file atomically and durably (write, fsync, rename, fsync the folder).

        A state that claims output rows (or completion) waits for the input's digest; one that claims
        nothing yet (the header) is saved without it, and a resume then simply starts over.
        """
        if self.digest is not None and (self.rows_done or self.complete or self.digest.done.is_set()):
            self.input_sha256, self.digest = self.digest.result(), None
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in NOT_SAVED}
        with tmp.open("w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)


NOT_SAVED = frozenset({"path", "digest", "summary", "carried"})


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".state.json")


def identity(options: RunOptions) -> dict[str, Any]:
    """The options that change the output's content: a resumed run must use the same ones."""
    return {"explain": options.explain, "threshold": options.threshold}


def open_state(options: RunOptions, digest: BackgroundDigest | None = None) -> RunState:
    """The state to continue from (with --resume and a matching state file), else a fresh one.

    The input is hashed on a background thread (`digest`, when the caller started it early, as
    campaign.py does before loading the model): a fresh run's state needs the digest only once it
    claims rows; a resumed run checks it before anything else.
    """
    path = state_path(options.output)
    digest = digest or BackgroundDigest(options.input)
    if options.resume and path.exists() and options.output.exists():
        state = RunState(**{**json.loads(path.read_text()), "path": path})
        if state.input_sha256:  # empty: saved before any row was done, so there is nothing to resume
            check_resumable(state, options, digest.result())
            return state
    return RunState(input_sha256="", options=identity(options), path=path, digest=digest)


def check_resumable(state: RunState, options: RunOptions, digest: str) -> None:
    if state.version != STATE_VERSION:
        raise ResumeError(
            f"{options.output} was written by another version of campaign.py (its columns differ): "
            "drop --resume to start over, or choose another --output"
        )
    if state.input_sha256 != digest:
        raise ResumeError(
            f"{options.output} was started from another input (sha256 {state.input_sha256[:12]}..., "
            f"this one is {digest[:12]}...): drop --resume to start over, or choose another --output"
        )
    if state.options != identity(options):
        raise ResumeError(f"{options.output} was started with options {state.options}: resume with the same ones")


class OutputWriter:
    """Append output rows, making them durable (fsync, then the state) at each checkpoint."""

    def __init__(self, state: RunState, output: Path):
        self.state = state
        self.pending_rows = 0
        self.last_checkpoint = time.monotonic()
        if state.output_bytes:
            with output.open("r+b") as f:  # drop whatever a crash left after the last recorded chunk
                f.truncate(state.output_bytes)
            self.file = output.open("ab")
        else:
            self.file = output.open("wb")
            try:
                self.write(HEADER, rows=0, durable=True)
            except BaseException:  # e.g. the input's digest failed: the caller never gets a writer to close
                self.file.close()
                raise

    def write(self, data: bytes | memoryview, rows: int, durable: bool = False) -> None:
        """Write output bytes for `rows` input rows; durable now, or at the next checkpoint due."""
        self.file.write(data)
        self.pending_rows += rows
        if durable or time.monotonic() - self.last_checkpoint >= CHECKPOINT_SECONDS:
            self.checkpoint()

    def checkpoint(self) -> None:
        """fsync what was written, then record it in the state: the state never claims more than the disk holds."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.state.rows_done += self.pending_rows
        self.pending_rows = 0
        self.state.output_bytes = self.file.tell()
        self.state.save()
        self.last_checkpoint = time.monotonic()

    def close(self) -> None:
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
    """Score every row not yet done; the state says how far it got even when this raises."""
    state = open_state(options, digest)
    state.summary = Summary(keep=options.top)
    if state.complete:
        read_back(options.output, state.summary)
        return state
    writer = OutputWriter(state, options.output)  # a resumed run: the output cut to what the state records
    try:
        if state.rows_done:
            read_back(options.output, state.summary, state.rows_done)
        engine = scorer if isinstance(scorer, OfflineScorer) and fast_path_applies(options, state) else None
        if engine is not None and run_fast(options, engine, state, writer, progress):
            return state
        if not progress.total:
            progress.start(count_rows(options.input), state.rows_done)
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


def fast_path_applies(options: RunOptions, state: RunState) -> bool:
    """The offline engine takes fresh runs over CSV files; a resumed run continues on the chunked path."""
    return state.rows_done == 0 and options.input.suffix.lower() not in JSONL_SUFFIXES


def run_fast(
    options: RunOptions, scorer: OfflineScorer, state: RunState, writer: OutputWriter, progress: Progress
) -> bool:
    """Score with the offline engine, as far as it goes; True when it did the whole file (then, with
    options.carry, state.carried holds what the plan needs of every row)."""
    check_model(state, scorer.service.model.version)
    progress.start(0, 0, size=options.input.stat().st_size)  # the share read, not a row count: no extra pass
    fast = scorer.fast_run(options.input)
    carried = Carried() if options.carry else None
    for text in fast.blocks():
        writer.write(text.data, len(text))
        text.count(state.summary)
        if carried is not None:
            carried.add(text)
        progress.advance(len(text), position=fast.bytes_done)
    writer.checkpoint()
    if fast.finished:
        state.complete = True
        state.save()
        state.carried = carried
    return fast.finished


def count_rows(path: Path) -> int:
    return sum(1 for _ in read_rows(path))
