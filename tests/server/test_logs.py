"""The JSON log lines: the request log's line without a record is the line its record would give."""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churn.logs import Clock, JsonFormatter, JsonLines, LineLog, configure_logging

FIELDS = {"request_id": "r-1", "route": "/predict", "status": 200, "latency_ms": 0.25, "path": "/caf\u00e9\n"}


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A logger of its own, not propagating, with no handler yet."""
    log = logging.getLogger("churn.test-lines")
    log.propagate, log.handlers, log.filters = False, [], []
    log.setLevel(logging.INFO)
    yield log
    log.handlers, log.filters, log.propagate = [], [], True


def json_lines(stream: io.StringIO) -> JsonLines:
    handler = JsonLines(stream)
    handler.setFormatter(JsonFormatter())
    return handler


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def without_time(line: dict[str, Any]) -> dict[str, Any]:
    stamp = datetime.datetime.fromisoformat(line["time"])
    assert stamp.tzinfo is not None and abs(stamp - datetime.datetime.now(datetime.UTC)).total_seconds() < 60
    return {k: v for k, v in line.items() if k != "time"}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_line_without_a_record_is_the_records_line(logger: logging.Logger) -> None:
    direct, via_record = io.StringIO(), io.StringIO()
    logger.addHandler(json_lines(direct))
    LineLog(logger, "request").write(FIELDS)  # the one handler: no record
    logger.handlers = [json_lines(via_record), Records()]  # two handlers: the record is made
    LineLog(logger, "request").write(FIELDS)
    assert [without_time(x) for x in lines(direct)] == [without_time(x) for x in lines(via_record)]
    assert without_time(lines(direct)[0]) == {"level": "INFO", "logger": logger.name, "message": "request", **FIELDS}


def test_a_handler_anywhere_up_the_tree_still_gets_the_record(logger: logging.Logger) -> None:
    stream, records = io.StringIO(), Records()
    logger.addHandler(json_lines(stream))
    child = logging.getLogger(logger.name + ".child")  # propagates to logger, as churn.access does to the root
    child.addHandler(records)
    try:
        LineLog(child, "request").write(FIELDS)
    finally:
        child.removeHandler(records)
    assert [r.fields for r in records.records] == [FIELDS]  # type: ignore[attr-defined]
    assert without_time(lines(stream)[0])["logger"] == child.name


@pytest.mark.parametrize("setting", ["level", "logger filter", "handler filter", "handler level", "formatter"])
def test_a_setting_that_changes_the_line_is_obeyed(logger: logging.Logger, setting: str) -> None:
    stream = io.StringIO()
    handler = json_lines(stream)
    logger.addHandler(handler)
    if setting == "level":
        logger.setLevel(logging.WARNING)
    elif setting == "logger filter":
        logger.addFilter(lambda record: False)
    elif setting == "handler filter":
        handler.addFilter(lambda record: False)
    elif setting == "handler level":
        handler.setLevel(logging.ERROR)
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    LineLog(logger, "request").write(FIELDS)
    assert stream.getvalue() == ("INFO request\n" if setting == "formatter" else "")


NEAR_A_SECONDS_END = st.integers(1, 4_000_000_000).map(lambda s: s + 0.9999995)  # rounds up to the next second


@given(st.floats(min_value=1, max_value=4e9, allow_nan=False) | NEAR_A_SECONDS_END)
def test_a_lines_time_is_datetimes_own(created: float) -> None:
    """The stamp made once a second and completed per line is what datetime itself writes, rounding included."""
    clock = Clock()
    for t in (created, created - 1, created):  # a new second, an older one, the first again
        assert clock.stamp(t) == datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat(timespec="milliseconds")


def test_a_line_that_cannot_be_written_never_fails_the_caller(
    logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    logger.addHandler(json_lines(stream))
    stream.close()  # as stdout closed under the server
    monkeypatch.setattr(logging, "raiseExceptions", False)  # as logging.StreamHandler.emit would report it
    LineLog(logger, "request").write(FIELDS)


GUNICORN_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"  # gunicorn's own error log


def test_after_configure_logging_another_handler_can_format_every_numeric_attribute(
    logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The book's `gunicorn churn_serving:app`: gunicorn's handlers format the process id as a number;
    a record without it made every one of gunicorn's own messages a 'Logging error' traceback."""
    for flag in ("logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, flag, getattr(logging, flag))  # put back after the test
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    configure_logging()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(GUNICORN_FORMAT + " %(thread)d %(lineno)d %(threadName)s"))
    logger.addHandler(handler)
    errors: list[Any] = []
    monkeypatch.setattr(handler, "handleError", errors.append)
    logger.info("Booting worker with pid: %s", 12345)
    assert errors == [] and f"[{os.getpid()}] [INFO] Booting worker with pid: 12345" in stream.getvalue()
