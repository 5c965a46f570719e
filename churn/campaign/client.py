"""HTTP client of the service: timeouts on every call, retries with backoff, Retry-After honoured.

Connection errors, timeouts, 5xx and 429 are retried (a restarting server or a busy proxy heals),
except a 5xx whose code says asking again cannot help (PERMANENT_CODES); that one, and any other 4xx
(the caller's fault), is raised at once as a RequestRefused with the service's code.
One requests.Session per thread: sessions are not thread-safe, but their connection pools are worth keeping.

Bodies are sent as the service reads them (churn.core.jsonkeys.dumps): NaN and Infinity as the
literals it accepts, integers as all their digits, so that each value reaches the contract as it was
read. A row that cannot be written as JSON at all becomes that row's error (score_sendable), never
the end of a run.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churn.core import jsonkeys
from churn.errors import Code

if TYPE_CHECKING:
    import requests

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A 5xx that says the same thing however often it is asked: a job that failed, a server without jobs.
PERMANENT_CODES = frozenset({Code.JOB_FAILED, Code.JOBS_DISABLED})
MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After is capped rather than trusted blindly
JSON_HEADERS = {"Content-Type": "application/json"}


class ClientError(Exception):
    """The service could not be used; message says why."""


class Unavailable(ClientError):
    """The service stayed unreachable or failing through every retry."""


class Unsendable(ClientError):
    """A payload holds a value JSON text cannot hold (nothing was sent); message says which."""


class RequestRefused(ClientError):
    """The service refused the request itself (a 4xx other than 429); code is its error.code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # tries per call, the first included
    base_delay: float = 0.5  # seconds before the first retry; doubles each time
    max_delay: float = 20.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed try number `attempt` (1-based): Retry-After, else jittered backoff."""
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Parse Retry-After: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    import email.utils  # noqa: PLC0415 - rare (an HTTP date), and a cost to every campaign.py start-up

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class ServiceClient:
    """Calls the service's JSON API with retries; thread-safe."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        policy: RetryPolicy | None = None,
        api_key: str | None = None,
        stop: threading.Event | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, timeout)
        self.policy = policy or RetryPolicy()
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.stop = stop or threading.Event()  # set it to make calls give up instead of retrying
        self.local = threading.local()
        self.retries = 0  # retries made so far, for the summary

    def session(self) -> requests.Session:
        # Imported on first use: requests and urllib3 are start-up time that `campaign.py --offline`
        # (which imports this module for its exceptions) never needs.
        import requests  # noqa: PLC0415

        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        session: requests.Session = self.local.session
        return session

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        """One call, retried on connection errors, timeouts, 5xx and 429; other 4xx raise RequestRefused."""
        import requests  # noqa: PLC0415 - see session()

        headers = {**self.headers, **(headers or {})}
        last = ""
        for attempt in range(1, self.policy.attempts + 1):
            retry_after = None
            try:
                response = self.session().request(
                    method, self.base_url + path, timeout=self.timeout, headers=headers, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as e:
                last = f"{type(e).__name__}"
            else:
                if response.status_code not in RETRY_STATUSES or error_code(response) in PERMANENT_CODES:
                    return refuse(response)
                last = f"HTTP {response.status_code}"
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt < self.policy.attempts:
                self.retries += 1
                if self.stop.wait(self.policy.delay(attempt, retry_after)):
                    break
        raise Unavailable(f"{method} {path} failed {self.policy.attempts} times, last: {last}")

    def post_json(self, path: str, payload: Any) -> Any:
        """POST payload as JSON (churn.core.jsonkeys.dumps); Unsendable, before any request, when it cannot be."""
        try:
            body = jsonkeys.dumps(payload)
        except (ValueError, TypeError) as e:
            raise Unsendable(f"the request cannot be written as JSON: {e}") from None
        return self.request("POST", path, data=body, headers=JSON_HEADERS).json()

    def get_json(self, path: str) -> tuple[int, Any]:
        response = self.request("GET", path)
        return response.status_code, response.json()


def error_code(response: requests.Response) -> str:
    """The service's error.code in a JSON error body, else http_<status>."""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}"


def refuse(response: requests.Response) -> requests.Response:
    """Return a successful response; raise RequestRefused, with the service's own code, for the rest."""
    if response.status_code < 400:
        return response
    code = error_code(response)
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    raise RequestRefused(response.status_code, code, message)


def score_sendable(score: Callable[[list[Any]], dict[str, Any]], rows: list[Any]) -> dict[str, Any]:
    """score(rows), a /v1/predict answer; when some rows cannot be written as JSON, score(the others), and
    each of those rows gets its own invalid_json error in its place."""
    try:
        return score(rows)
    except Unsendable:
        problems = {i: problem for i, row in enumerate(rows) if (problem := unsendable(row)) is not None}
        if not problems:
            raise  # the rows are fine: what cannot be sent is something else in the request
    sendable = [row for i, row in enumerate(rows) if i not in problems]
    body = score(sendable) if sendable else {"model_version": None, "predictions": []}
    answers = iter(body["predictions"])
    predictions = [
        {"customerid": None, "error": {"code": Code.INVALID_JSON, "message": problems[i]}}
        if i in problems
        else next(answers)
        for i in range(len(rows))
    ]
    return {**body, "predictions": predictions}


def unsendable(row: Any) -> str | None:
    """Why row cannot be written as JSON (naming the field that cannot), or None when it can."""
    try:
        jsonkeys.dumps(row)
    except (ValueError, TypeError) as e:
        fields = [k for k, v in row.items() if not writable(v)] if isinstance(row, dict) else []
        where = f" (field {', '.join(map(str, fields))})" if fields else ""
        return f"the row cannot be written as JSON{where}: {e}"
    return None


def writable(value: Any) -> bool:
    try:
        jsonkeys.dumps(value)
    except (ValueError, TypeError):
        return False
    return True
