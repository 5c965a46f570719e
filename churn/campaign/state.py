"""The sidecar state file (OUTPUT.state.json): what a run records of its progress, and what a resume trusts of it.

The state is saved by the run (RunState.save, atomically) but read back as input: a file a user or a
crash may have changed. load_state takes only the fields a run saves, of the types it saves them;
check_output then reads the output back as far as the state claims it (that is how a resumed run's
summary is counted) and takes the state only if the output holds exactly the rows it records, each a
whole line of the campaign's columns. Both stop with a ResumeError before the output is touched.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from churn.campaign.carried import Carried
from churn.campaign.files import temporary
from churn.campaign.output import OUTPUT_COLUMNS
from churn.campaign.rows import BackgroundDigest
from churn.campaign.summary import Summary, read_back
from churn.files import naming, printable

STATE_VERSION = 2  # 2: the output has a warnings column
START_OVER = "drop --resume to start over (the output is written again from the first row), or choose another --output"


class ResumeError(Exception):
    """The output's state file cannot be resumed from (another input, other options, not a state that
    matches the output); the message says what to do."""


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
        tmp = temporary(self.path)
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in NOT_SAVED}
        with naming(self.path), tmp.open("w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)


NOT_SAVED = frozenset({"path", "digest", "summary", "carried"})
SHA256 = re.compile(r"[0-9a-f]{64}")


def is_count(value: object) -> bool:
    return type(value) is int and value >= 0  # type() rather than isinstance(): true and false are ints too


# Each saved field: what a run saves there, and how a message says it.
FIELD_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "input_sha256": (lambda v: isinstance(v, str) and (v == "" or SHA256.fullmatch(v) is not None), "a sha256"),
    "options": (lambda v: isinstance(v, dict), "an object"),
    "rows_done": (is_count, "a whole number, 0 or more"),
    "output_bytes": (is_count, "a whole number, 0 or more"),
    "complete": (lambda v: isinstance(v, bool), "true or false"),
    "model_version": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "version": (lambda v: type(v) is int, "a whole number"),
}
REQUIRED = tuple(
    f.name for f in fields(RunState) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_state(path: Path, output: Path) -> RunState:
    """The state saved at `path` for `output`; ResumeError where the file is not one a run saves."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as e:  # ValueError: not JSON, or not text at all
        raise ResumeError(f"{printable(path)} cannot be read as a state file ({e}): {START_OVER}") from None
    if isinstance(data, dict) and data.get("version", STATE_VERSION) != STATE_VERSION:
        raise ResumeError(
            f"{printable(output)} was written by another version of campaign.py (its columns differ): {START_OVER}"
        )
    problem = shape_problem(data)
    if problem is not None:
        raise ResumeError(f"{printable(path)} is not a state file as campaign.py saves it ({problem}): {START_OVER}")
    return RunState(**data, path=path)


def shape_problem(data: Any) -> str | None:
    """What is wrong with a state file's content (None: nothing), in words."""
    if not isinstance(data, dict):
        return f"it holds {json.dumps(data)[:40]}, not an object"
    unknown = sorted(set(data) - set(FIELD_RULES))
    missing = [name for name in REQUIRED if name not in data]
    if unknown or missing:
        return f"unknown fields {unknown}" if unknown else f"no {missing[0]} field"
    for name, value in data.items():
        valid, what = FIELD_RULES[name]
        if not valid(value):
            return f"{name} must be {what}, not {json.dumps(value)[:40]}"
    return None


def check_resumable(state: RunState, output: Path, identity: dict[str, Any], digest: str) -> None:
    """ResumeError unless the state is of this input with these options."""
    if state.input_sha256 != digest:
        raise ResumeError(
            f"{printable(output)} was started from another input (sha256 {state.input_sha256[:12]}..., "
            f"this one is {digest[:12]}...): drop --resume to start over, or choose another --output"
        )
    if state.options != identity:
        raise ResumeError(f"{printable(output)} was started with options {state.options}: resume with the same ones")


def check_output(state: RunState, output: Path) -> None:
    """Count the rows the state records into its summary, reading them back from the output; ResumeError
    unless the output holds exactly those rows, as whole lines (then a resume only cuts what is after them)."""
    try:
        problem = output_problem(state, output)
    except (OSError, csv.Error, ValueError) as e:  # ValueError: bytes that are not UTF-8, a cell not a number
        problem = f"the output cannot be read back: {e}"
    if problem is not None:
        raise ResumeError(f"{printable(state.path)} does not match {printable(output)}: {problem}; {START_OVER}")


def output_problem(state: RunState, output: Path) -> str | None:
    """What in the output contradicts the state (None: nothing), the state's rows read into its summary.

    A finished output is read whole (a plan may have rewritten it since, with two more columns); an
    unfinished one only as far as the state's output_bytes, which must end a line.
    """
    size = None if state.complete else state.output_bytes
    if size is not None:
        actual = output.stat().st_size
        if size > actual:
            return f"the state records {size} bytes of output, but the output holds {actual}"
        if not ends_a_line(output, size):
            return f"the output's first {size} bytes, which the state records, do not end with a whole line"
    rows = read_back(output, state.summary, OUTPUT_COLUMNS, size)
    if rows != state.rows_done:
        return f"the state records {state.rows_done} rows done, but the output holds {rows}"
    return None


def ends_a_line(path: Path, size: int) -> bool:
    if size == 0:
        return False  # not even the header
    with path.open("rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


def check_rows_left(state: RunState, input_rows: int) -> None:
    """ResumeError where the state claims more rows done than the input has."""
    if state.rows_done > input_rows:
        raise ResumeError(
            f"{printable(state.path)} records {state.rows_done} rows done, but the input has only {input_rows}: "
            f"{START_OVER}"
        )
