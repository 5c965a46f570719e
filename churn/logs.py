"""Logging: one JSON object per line on stdout, configured once before the app exists."""

from __future__ import annotations

import datetime
import logging
import math
import sys
import time
from collections.abc import Mapping
from typing import Any

import orjson


class Clock:
    """A time as the lines show it: datetime's UTC isoformat to the millisecond, the date and time part
    made once a second (making a datetime for every line was a third of the request line's cost)."""

    def __init__(self) -> None:
        self.cached = (math.nan, "")  # (second, its date and time text): one tuple, so threads see a pair

    def stamp(self, created: float) -> str:
        # datetime.fromtimestamp's own rounding: to the nearest microsecond, half to even
        fraction, second = math.modf(created)
        micro = round(fraction * 1e6)
        if micro >= 1_000_000:
            second, micro = second + 1, micro - 1_000_000
        cached = self.cached
        if cached[0] != second:
            cached = self.cached = (second, datetime.datetime.fromtimestamp(second, datetime.UTC).isoformat()[:19])
        return f"{cached[1]}.{micro // 1000:03d}+00:00"


CLOCK = Clock()


def json_line(created: float, level: str, logger: str, message: str, fields: Mapping[str, Any]) -> str:
    """The one shape of a log line: time, level, logger and message, then the record's own fields."""
    out: dict[str, Any] = {
        "time": CLOCK.stamp(created),
        "level": level,
        "logger": logger,
        "message": message,
    }
    out.update(fields)
    # orjson: this runs once per request (the request log line), json.dumps took several times longer.
    return orjson.dumps(out, default=str).decode()


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line; `extra={"fields": {...}}` adds structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        if record.exc_info:
            fields = {**fields, "exception": self.formatException(record.exc_info)}
        return json_line(record.created, record.levelname, record.name, record.getMessage(), fields)


class JsonLines(logging.StreamHandler):  # type: ignore[type-arg]
    """The stream handler configure_logging installs; it can also write a line that has no record."""

    def write_line(self, line: str) -> None:
        """What emit() does with a formatted record: the line and a line end, flushed, under the lock; a
        failure (stdout closed) is reported as emit() reports it, never raised into the request."""
        try:
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line + self.terminator)
                self.stream.flush()  # the stream's own, not self.flush(): that one takes the lock again
        except Exception:  # logging's own rule: a handler never raises
            self.handleError(logging.makeLogRecord({"msg": line}))


def sole_handler(logger: logging.Logger, level: int) -> JsonLines | None:
    """The JsonLines handler when it is the only one a record of this logger and level reaches, unfiltered."""
    if logger.disabled or logger.filters or not logger.isEnabledFor(level):
        return None
    reached: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        reached += current.handlers
        current = current.parent if current.propagate else None
    if len(reached) != 1:
        return None
    handler = reached[0]
    if not isinstance(handler, JsonLines):
        return None
    plain = type(handler.formatter) is JsonFormatter and not handler.filters and handler.level <= level
    return handler if plain else None


class LineLog:
    """Write one logger's INFO lines of structured fields, as logger.info(message, extra={"fields": f}) would.

    For the request log line, one per request: where the line goes only to the JsonLines handler (as
    configured), it is written without a LogRecord, whose making and dispatch cost several times the
    line itself. Anywhere else (a test's capture, another handler, a filter) the record is made.
    """

    def __init__(self, logger: logging.Logger, message: str):
        self.logger = logger
        self.message = message

    def write(self, fields: Mapping[str, Any]) -> None:
        handler = sole_handler(self.logger, logging.INFO)
        if handler is not None:
            handler.write_line(json_line(time.time(), "INFO", self.logger.name, self.message, fields))
        elif self.logger.isEnabledFor(logging.INFO):
            # A record built directly: logger.info() would also walk the stack to find its caller.
            record = logging.LogRecord(self.logger.name, logging.INFO, __file__, 0, self.message, None, None)
            record.fields = fields
            self.logger.handle(record)


def configure_logging(level: str = "INFO") -> None:
    """Send every logger, the HTTP server's included, to stdout as JSON lines."""
    handler = JsonLines(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # The JSON lines never show the process's name, and looking it up for every record was a large share
    # of the per-request log line. The process and thread ids stay: other handlers format them as numbers
    # (gunicorn's own "[%(process)d]"), and a None there fails every one of their records.
    logging.logMultiprocessing = False
