"""What a command may be told to write to that is not a regular file, made at a path; a deadline for a
call that must not block; file names holding control characters; a check that a message is whole lines.

Shared by the tests of campaign.py's and train.py's files (churn.files): each writing option of either
command is tried with each kind here.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from hypothesis import strategies as st

DEVICES = ["/dev/null", "/dev/zero"]  # character devices every Linux has, given as the path itself


def fifo(path: Path) -> None:
    os.mkfifo(path)


def directory(path: Path) -> None:
    path.mkdir()


def unix_socket(path: Path) -> None:
    """A socket file left at path (bound by its name in its folder: a socket's address is at most ~107 bytes)."""
    with contextlib.chdir(path.parent), socket.socket(socket.AF_UNIX) as s:
        s.bind(path.name)


def link_to(make: Callable[[Path], None]) -> Callable[[Path], None]:
    """Make the thing beside path, and path a symlink to it (relative, as a user would link it)."""

    def made(path: Path) -> None:
        target = path.with_name("target-" + path.name)
        make(target)
        path.symlink_to(target.name)

    return made


def link_to_device(device: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(device)


def dangling(path: Path) -> None:
    path.symlink_to("missing-" + path.name)


def loop(path: Path) -> None:
    path.symlink_to(path.name)


# Each kind: how to make it at a path, and what the refusal says it is.
KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (fifo, "is a named pipe"),
    "directory": (directory, "is a directory"),
    "socket": (unix_socket, "is a socket"),
    "link to a fifo": (link_to(fifo), "is a symlink to a named pipe"),
    "link to a directory": (link_to(directory), "is a symlink to a directory"),
    "link to a socket": (link_to(unix_socket), "is a symlink to a socket"),
    **{f"link to {d}": (link_to_device(d), "is a symlink to a character device") for d in DEVICES},
    "dangling link": (dangling, "is a symlink to nothing"),
    "link loop": (loop, "is a symlink to nothing"),
}


class Blocked(Exception):
    """The call was still running at its deadline: it blocked (on a named pipe, most likely)."""


MEMORY_MARGIN = 4 << 30  # bytes of address space a refused call may add: far more than any of them needs


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise Blocked in the main thread if the block takes longer (SIGALRM interrupts a blocking open()),
    and MemoryError if it grows by MEMORY_MARGIN: a command that reads /dev/zero as a file would
    otherwise take the machine's memory before any deadline (train.py did, with its metadata linked there)."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise Blocked(f"still running after {seconds} s")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    capped = size + MEMORY_MARGIN if hard == resource.RLIM_INFINITY else min(hard, size + MEMORY_MARGIN)
    previous = signal.signal(signal.SIGALRM, expired)
    resource.setrlimit(resource.RLIMIT_AS, (capped, hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, previous)


# File names: control characters (C0, DEL, C1, an ANSI colour sequence, a line separator, the surrogate
# an undecodable byte becomes) among ordinary text, non-ASCII letters included, which must stay readable.
CONTROLS = ["\n", "\r", "\t", "\x1b", "\x1b[31m", "\x7f", "\x85", "\x9b", "\x01", "\u2028", "\udcff"]
READABLE = ["é", "日本", "Ωmega", "ß", " ", "-", "\\", "a"]
NAME_PARTS = st.one_of(
    st.sampled_from(CONTROLS),
    st.sampled_from(READABLE),
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
)
FILE_NAMES = st.lists(NAME_PARTS, min_size=1, max_size=8).map(lambda parts: "in-" + "".join(parts) + ".csv")


def assert_whole_lines(text: str, lines: int) -> None:
    """text is `lines` lines, each ending in a line feed, and no other control character anywhere."""
    assert text.endswith("\n"), text
    body = text[:-1].split("\n")
    assert len(body) == lines, text
    assert all(c.isprintable() for line in body for c in line), text


def assert_names_escaped(text: str, name: str) -> None:
    """Each control character of name is in text as its escape; each readable character as itself."""
    for c in name:
        assert (c if c.isprintable() else repr(c)[1:-1]) in text, (c, text)
