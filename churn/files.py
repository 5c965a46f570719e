"""The rule that no file a command writes is one it reads, or another one it writes (campaign.py, train.py),
and how a message names a file.

A file written over one the command reads destroys it before (or while) it is read; two written files
being one file leave one of them wrong. Whether two paths are the same file is judged as the filesystem
judges it wherever the file exists (device and inode: another spelling, a symlink and a hard link all
name the same file), and by the path with every symlink resolved where it does not yet.

A message names a file through printable(), whatever the file's name holds (a line end, an escape
sequence): the rule the campaign summary shows customer ids by, too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class SameFile(ValueError):
    """A file the command writes is one it reads or another one it writes; the message names both."""


def printable(text: str | os.PathLike[str]) -> str:
    """Text a command did not write (a file's name, a customer's id) as one line of a terminal: each
    character str.isprintable() refuses (a line end, an escape sequence's ESC, DEL, a C1 control, an
    undecodable byte's surrogate) written as its escape, so that no name can start a line of its own
    in a log or drive the terminal; every other character, non-ASCII letters included, as it is."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in os.fspath(text))


def check_distinct(read: Mapping[str, Path], written: Mapping[str, Path]) -> None:
    """SameFile unless every written file is a file of its own (files read may be one file: reading harms none).

    Each mapping is by what the user would call the file ("--output", "the model's metadata").
    """
    taken = {file_identity(path): f"{name} {printable(path)}" for name, path in read.items()}
    for name, path in written.items():
        identity = file_identity(path)
        if identity in taken:
            raise SameFile(
                f"{name} {printable(path)} is the same file as {taken[identity]}: give each file its own path"
            )
        taken[identity] = f"{name} {printable(path)}"


def file_identity(path: Path) -> tuple[object, ...]:
    """What makes a file itself: its device and inode where it exists, else its path with symlinks resolved."""
    try:
        status = os.stat(path)
    except OSError:  # not there yet (or not reachable): nothing else can be that file through another inode
        return ("path", os.path.realpath(path))
    return ("inode", status.st_dev, status.st_ino)
