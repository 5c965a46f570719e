"""The files a campaign run reads and writes, and the rule that no file it writes is one it reads or another it writes.

A run writes its output, the output's state file (replaced through a temporary copy), with a plan a
temporary copy of the output (renamed over it), and the files --top-output and --report name. One of
them being the input (or the model, or the key file) would destroy that file before it is read; two of
them being one file would leave one of them wrong. Whether two paths are the same file is judged as
the filesystem judges it wherever the file exists (device and inode: another spelling, a symlink and
a hard link all name the same file), and by the path with every symlink resolved where it does not yet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class SameFile(ValueError):
    """A file the run writes is one it reads or another one it writes; the message names both."""


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".state.json")


def temporary(path: Path) -> Path:
    """Where the next version of `path` is written in full, then renamed over it."""
    return path.with_name(path.name + ".tmp")


def state_tmp_path(output: Path) -> Path:
    return temporary(state_path(output))


def plan_tmp_path(output: Path) -> Path:
    """The output with a plan's columns, written in full and then renamed over the output."""
    return output.with_name(output.name + ".plan.tmp")


def written_files(output: Path, top_output: Path | None = None, report: Path | None = None) -> dict[str, Path]:
    """Every file a run may write, by what the user would call it."""
    files = {
        "--output": output,
        "the output's state file": state_path(output),
        "the state file's temporary copy": state_tmp_path(output),
        "the output's temporary copy": plan_tmp_path(output),
    }
    if top_output is not None:
        files["--top-output"] = top_output
    if report is not None:
        files["--report"] = report
    return files


def check_distinct(read: Mapping[str, Path], written: Mapping[str, Path]) -> None:
    """SameFile unless every written file is a file of its own (files read may be one file: reading harms none)."""
    taken = {file_identity(path): f"{name} {path}" for name, path in read.items()}
    for name, path in written.items():
        identity = file_identity(path)
        if identity in taken:
            raise SameFile(f"{name} {path} is the same file as {taken[identity]}: give each file of a run its own path")
        taken[identity] = f"{name} {path}"


def file_identity(path: Path) -> tuple[object, ...]:
    """What makes a file itself: its device and inode where it exists, else its path with symlinks resolved."""
    try:
        status = os.stat(path)
    except OSError:  # not there yet (or not reachable): nothing else can be that file through another inode
        return ("path", os.path.realpath(path))
    return ("inode", status.st_dev, status.st_ino)
