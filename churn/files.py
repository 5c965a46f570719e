"""The files a command writes (campaign.py, train.py), checked before any work, and how a message names a file.

Every file a command writes must be a regular file already, or not exist yet (check_written, before
anything is read or scored): a named pipe blocks the writer until something reads it (forever, in a
batch job), a directory or a device fails only when the file is opened, late, and /dev/null is no
place for a file the command reads back, keeps a state file beside or renames a new version over. A
symlink is judged by what it leads to; one that leads nowhere is refused too, as where its file would
go (through it, or over it) is not a place anything checked.

No file a command writes may be one it reads, or another one it writes, either: a file written over
one the command reads destroys it before (or while) it is read; two written files being one file
leave one of them wrong. Whether two paths are the same file is judged as the filesystem judges it
wherever the file exists (device and inode: another spelling, a symlink and a hard link all name the
same file), and by the path with every symlink resolved where it does not yet.

A message names a file through printable(), whatever the file's name holds (a line end, an escape
sequence): the rule the campaign summary shows customer ids by, too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path


class FileRefused(ValueError):
    """A file the command writes cannot be written as it should; the message names it and its option."""


class SameFile(FileRefused):
    """A file the command writes is one it reads or another one it writes; the message names both."""


class NotAFile(FileRefused):
    """A file the command writes names a directory, a pipe, a device or a socket, or a symlink to nothing."""


def printable(text: str | os.PathLike[str]) -> str:
    """Text a command did not write (a file's name, a customer's id) as one line of a terminal: each
    character str.isprintable() refuses (a line end, an escape sequence's ESC, DEL, a C1 control, an
    undecodable byte's surrogate) written as its escape, so that no name can start a line of its own
    in a log or drive the terminal; every other character, non-ASCII letters included, as it is."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in os.fspath(text))


@contextlib.contextmanager
def naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Give an OSError raised inside without a file name the name of `path`: a write, flush, fsync or
    truncate on an open file (a full disk's ENOSPC) names no file, and a message must say which one."""
    try:
        yield
    except OSError as e:
        if e.filename is None:
            e.filename = os.fspath(path)
        raise


def check_written(read: Mapping[str, Path], written: Mapping[str, Path]) -> None:
    """SameFile or NotAFile unless every written file is a file of its own and a regular file (or not
    there yet). Each mapping is by what the user would call the file ("--output", "the model's metadata")."""
    check_distinct(read, written)
    for name, path in written.items():
        problem = kind_problem(path)
        if problem is not None:
            raise NotAFile(
                f"{name} {printable(path)}: {problem}, not a regular file: name a regular file, "
                "or a path that does not exist yet"
            )


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


KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_problem(path: Path) -> str | None:
    """What path is, when it is there and not a regular file (None: a regular file, or nothing yet).

    A path whose folder is missing or is a file is nothing yet here: where that matters, the command
    says so by its own check of the folder.
    """
    try:
        status = os.lstat(path)
    except OSError:
        return None  # nothing there yet
    link = stat.S_ISLNK(status.st_mode)
    if link:
        try:
            status = os.stat(path)
        except OSError:  # its target missing, or a loop of links
            return "is a symlink to nothing"
    mode = status.st_mode
    if stat.S_ISREG(mode):
        return None
    return f"is a symlink to {kind_of(mode)}" if link else f"is {kind_of(mode)}"


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is ("a named pipe"), by its stat mode."""
    return next((name for is_kind, name in KINDS if is_kind(mode)), "a special file")


def read_regular(path: Path) -> bytes:
    """A regular file's bytes; OSError (EINVAL) saying what it is when it is not one.

    Opened without waiting and judged on what was opened (no window between a check and the read): a
    named pipe would wait for a writer, and a device such as /dev/zero would be read until memory ends.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"it is {kind_of(mode)}, not a regular file", os.fspath(path))
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def file_identity(path: Path) -> tuple[object, ...]:
    """What makes a file itself: its device and inode where it exists, else its path with symlinks resolved."""
    try:
        status = os.stat(path)
    except OSError:  # not there yet (or not reachable): nothing else can be that file through another inode
        return ("path", os.path.realpath(path))
    return ("inode", status.st_dev, status.st_ino)
