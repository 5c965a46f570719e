"""campaign.py's option values, checked before anything is scored: numbers within what can work, the
API key it sends, the places its files go. Each problem is a usage error (exit status 2) naming its option.

The plan's own options are parsed here and judged by churn.campaign.plan.PlanOptions, which holds their rules.
"""

from __future__ import annotations

import argparse
import os
import re
import urllib.parse
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from churn.config import KEY_CHARACTERS, THRESHOLD_WANT, is_header_safe_key, is_threshold
from churn.core.features import FIELDS
from churn.files import printable, read_regular

T = TypeVar("T")
MAX_EXPLAIN = len(FIELDS)
# Beyond these a run does not go better, only wrongly: chunks far larger than a server takes
# (CHURN_MAX_BATCH and CHURN_JOB_MAX_BATCH are 10,000 and 100,000 by default: it splits them again),
# more calls in flight than a server has threads (CHURN_THREADS is at most 64), retries that wait
# hours (the backoff reaches 20 s), a wait longer than a day (how long the service keeps a job by
# default; a socket's timeout overflows long before 1e308 s).
MAX_CHUNK_SIZE = 1_000_000
MAX_CONCURRENCY = 64
MAX_RETRIES = 100
MAX_SECONDS = 86_400.0
WHOLE_NUMBER = re.compile(r"[0-9]+")  # ASCII digits: int() alone also takes "+5", " 5", "1_000", other scripts' digits


def checked(parse: Callable[[str], T], ok: Callable[[T], bool], want: str) -> Callable[[str], T]:
    """An argparse type: parse(text), which ok() accepts, else a message saying what the option wants."""

    def option_value(text: str) -> T:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {want}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {want}")
        return value

    return option_value


def whole(text: str) -> int:
    if not WHOLE_NUMBER.fullmatch(text):
        raise ValueError(text)
    return int(text)  # a ValueError too past 4300 digits


def whole_from(low: int, high: float = float("inf"), want: str = "") -> Callable[[str], int]:
    return checked(whole, lambda v: low <= v <= high, want or f"a whole number from {low} to {high:.0f}")


chunk_size = whole_from(1, MAX_CHUNK_SIZE)
concurrency = whole_from(1, MAX_CONCURRENCY)
retries = whole_from(1, MAX_RETRIES)
explain = whole_from(0, MAX_EXPLAIN)
top = whole_from(0, want="a whole number, 0 or more")
threshold = checked(float, is_threshold, THRESHOLD_WANT)  # the service's CHURN_THRESHOLD rule
wait = checked(float, lambda v: 0 < v <= MAX_SECONDS, f"a number of seconds above 0, at most {MAX_SECONDS:.0f}")
# The plan's options: parsed here, judged by PlanOptions (whose messages name the option too).
plan_count = checked(whole, lambda _: True, "a whole number")


def is_service_url(text: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:  # an open bracket, a port out of range or not a number
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


URL_WANT = "an http:// or https:// URL such as http://localhost:9696"


def service_url(text: str) -> str:
    """--url: an http(s) URL with a host; a refused one is named without its user:password@ part."""
    if not is_service_url(text):
        raise argparse.ArgumentTypeError(f"{without_userinfo(text)!r} is not {URL_WANT}")
    return text


def without_userinfo(url: str) -> str:
    """The URL with everything between "://" and its last "@" shown as "***": a password is never echoed,
    even one holding a "/" or "@" (which makes the URL ambiguous to parse)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def amount(text: str) -> Decimal:
    """An amount of money as churn.campaign.plan reads one (imported only when a plan is asked for: numpy)."""
    from churn.campaign.plan import PlanError, parse_amount  # noqa: PLC0415

    try:
        return parse_amount(text)
    except PlanError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def plan_share(text: str) -> float:
    """A share (--retention-rate) as churn.campaign.plan reads one: the plain decimals an amount is written in."""
    from churn.campaign.plan import PlanError, parse_share  # noqa: PLC0415

    try:
        return parse_share(text)
    except PlanError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class ApiKeyError(Exception):
    """The API key cannot be sent; the message names where it came from, never the key itself."""


def api_key(key_file: Path | None, key_option: str | None) -> str | None:
    """The key from --api-key-file, --api-key or $CHURN_API_KEY, in that order.

    Surrounding white space is dropped wherever the key comes from (a key file's last line end, a
    copied newline), as the service drops it around CHURN_API_KEYS; what is left must fit in a header.
    """
    if key_file is not None:
        return sendable(read_key_file(key_file), f"--api-key-file {printable(key_file)}")
    if key_option is not None:
        return sendable(key_option, "--api-key")
    text = os.environ.get("CHURN_API_KEY", "")
    return sendable(text, "$CHURN_API_KEY") if text.strip() else None  # empty: unset, as the service reads


def read_key_file(path: Path) -> str:
    try:
        return read_regular(path).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiKeyError(f"--api-key-file {printable(path)} is not UTF-8 text") from None
    except OSError as e:
        raise ApiKeyError(f"--api-key-file {printable(path)}: {e.strerror or e}") from None


def sendable(text: str, source: str) -> str:
    key = text.strip()
    if not key:
        raise ApiKeyError(f"{source} holds no API key")
    if not is_header_safe_key(key):
        at = next(i for i, c in enumerate(key, 1) if not is_header_safe_key(c))
        raise ApiKeyError(
            f"{source}: the API key must be {KEY_CHARACTERS}, and its character #{at} is not (the key is not shown)"
        )
    return key


OUTPUT_OPTIONS = {"output": "--output", "top_output": "--top-output", "report": "--report"}


def output_problem(args: argparse.Namespace) -> str | None:
    """Which file option names a place no file can be written (None: every one can, as far as can
    be told before writing): found before scoring, not when the scores are done."""
    for name, option in OUTPUT_OPTIONS.items():
        path = getattr(args, name)
        if path is not None and (problem := location_problem(path)) is not None:
            return f"{option} {printable(path)}: {problem}"
    return None


def location_problem(path: Path) -> str | None:
    folder = path.absolute().parent  # what is at the path itself is churn.files.check_written's to judge
    if not folder.is_dir():
        shown = printable(path.parent)
        return f"{shown} is not a directory" if folder.exists() else f"no such directory {shown}"
    if not os.access(folder, os.W_OK):
        return f"cannot write in {printable(path.parent)}"
    return None
