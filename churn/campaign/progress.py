"""A progress bar on stderr, with no dependency: redrawn in place on a terminal, a line now and then otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, stream: TextIO | None = None, every: float | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if every is not None else (0.2 if self.tty else 5.0)  # seconds between redraws
        self.total = self.done = self.first = self.size = self.position = 0
        self.started = self.shown = 0.0

    def start(self, total: int, done: int = 0, size: int = 0) -> None:
        """total rows (done of them already); or total 0 and the input's size in bytes, when counting
        the rows first would cost a pass over the file: the share then comes from advance's position."""
        self.total, self.done, self.first, self.size = total, done, done, size
        self.started = time.monotonic()
        self.draw()

    def advance(self, rows: int, position: int = 0) -> None:
        self.done += rows
        self.position = position
        if time.monotonic() - self.shown >= self.every:
            self.draw()

    def finish(self) -> None:
        if self.total or self.size:
            self.draw()
            if self.tty:
                self.stream.write("\n")

    def draw(self) -> None:
        self.shown = time.monotonic()
        if self.size:
            share = min(self.position / self.size, 1.0)
            count = f"{self.done} rows"
        else:
            share = self.done / self.total if self.total else 1.0
            count = f"{self.done}/{self.total} rows"
        bar = "#" * int(share * WIDTH)
        rate = (self.done - self.first) / max(self.shown - self.started, 1e-9)
        line = f"[{bar:<{WIDTH}}] {count} {share:4.0%} {rate:,.0f} rows/s"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()
