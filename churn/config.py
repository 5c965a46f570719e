"""Settings, read once from the environment at start-up into one typed object."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = PROJECT_DIR / "churn-model.bin"
T = TypeVar("T")
# CHURN_RANGE_TOLERANCE: how many training spans beyond the training range a number is still scored
# (flagged); farther out it is refused (churn.core.contract).
RANGE_TOLERANCE = 1.0


class ConfigError(Exception):
    """An environment variable holds a value the service cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    port: int = 9696
    # The HTTP server (churn/server/launch.py): worker processes, Python threads each, seconds a stop waits
    # for requests in flight (shorter than the load balancer's deregistration delay, 30 s).
    workers: int = 2
    threads: int = 4
    graceful_timeout: int = 20
    model_path: Path = DEFAULT_MODEL_PATH
    threshold: float = 0.5
    max_batch: int = 10_000
    # A full batch of CRM-style records is ~7 MB of JSON; 16 MiB leaves room for pretty-printing.
    max_body_bytes: int = 16 * 1024 * 1024
    log_level: str = "INFO"
    # Bearer keys for the scoring and job routes; empty = open. Kept out of repr so no log shows them.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    # Async jobs (churn/jobs/queue.py): off unless REDIS_URL is set.
    redis_url: str | None = None
    job_ttl: int = 86_400  # seconds a job, its result or its failure is kept
    job_max_batch: int = 100_000
    redis_timeout: float = 2.0  # seconds before a Redis call gives up: a stalled Redis means 503s, not hangs
    # What one job may cost: rows x (1 + explain + explain_down), about 100 bytes of result each;
    # the default is of the order of /v1/predict's largest answer (10,000 rows x 39).
    job_max_cost: int = 500_000
    jobs_per_caller: int = 8  # jobs queued or running per API key (all anonymous callers share one count)
    jobs_max_active: int = 64  # jobs queued or running in all
    # Job-route requests in flight per API process: the rest of its threads stay free for scoring
    # (fewer than `threads` with jobs on: check_job_route_slots).
    job_route_slots: int = 2
    job_retries: int = 2  # runs again of a job whose worker died (scoring is idempotent)
    # Seconds between a busy worker's heartbeats; a job unheard of for two is abandoned (churn/jobs/queue.py).
    job_heartbeat: int = 10
    # How far beyond the training range a number is still scored (flagged), in training spans (churn.core.contract).
    range_tolerance: float = RANGE_TOLERANCE
    # CloudWatch Embedded Metric Format lines on stdout (churn/server/emf.py), written by the server
    # process once an interval; the environment names the metrics' Environment dimension.
    metrics_emf: bool = False
    metrics_emf_interval: int = 60
    metrics_environment: str = "local"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            port=read(env, "PORT", int, cls.port, ok=lambda v: 0 < v < 65536, want="a TCP port (1-65535)"),
            workers=read(env, "WEB_CONCURRENCY", int, os.cpu_count() or cls.workers, ok=positive, want=POSITIVE),
            threads=read(env, "CHURN_THREADS", int, cls.threads, ok=lambda v: 1 <= v <= 64, want="threads (1-64)"),
            graceful_timeout=read(
                env,
                "CHURN_GRACEFUL_TIMEOUT",
                int,
                cls.graceful_timeout,
                ok=positive,
                want="a positive number of seconds",
            ),
            model_path=Path(env.get("CHURN_MODEL_PATH") or cls.model_path),
            threshold=read(env, "CHURN_THRESHOLD", float, cls.threshold, ok=is_threshold, want=THRESHOLD_WANT),
            max_batch=read(env, "CHURN_MAX_BATCH", int, cls.max_batch, ok=lambda v: v > 0, want="a positive integer"),
            max_body_bytes=read(
                env,
                "CHURN_MAX_BODY_BYTES",
                int,
                cls.max_body_bytes,
                ok=lambda v: v > 0,
                want="a positive number of bytes",
            ),
            log_level=read(
                env,
                "LOG_LEVEL",
                str.upper,
                cls.log_level,
                ok=lambda v: v in LOG_LEVELS,
                want="one of " + ", ".join(LOG_LEVELS),
            ),
            api_keys=read_api_keys(env),
            redis_url=read(env, "REDIS_URL", str, "", ok=lambda v: v.startswith(REDIS_SCHEMES), want=REDIS_WANT)
            or None,
            job_ttl=read(
                env, "CHURN_JOB_TTL", int, cls.job_ttl, ok=lambda v: v > 0, want="a positive number of seconds"
            ),
            job_max_batch=read(
                env, "CHURN_JOB_MAX_BATCH", int, cls.job_max_batch, ok=lambda v: v > 0, want="a positive integer"
            ),
            redis_timeout=read(
                env, "CHURN_REDIS_TIMEOUT", float, cls.redis_timeout, ok=lambda v: 0 < v <= 60, want="seconds (0-60]"
            ),
            job_max_cost=read(env, "CHURN_JOB_MAX_COST", int, cls.job_max_cost, ok=positive, want=POSITIVE),
            jobs_per_caller=read(env, "CHURN_JOBS_PER_CALLER", int, cls.jobs_per_caller, ok=positive, want=POSITIVE),
            jobs_max_active=read(env, "CHURN_JOBS_MAX_ACTIVE", int, cls.jobs_max_active, ok=positive, want=POSITIVE),
            job_route_slots=read(env, "CHURN_JOB_ROUTE_SLOTS", int, cls.job_route_slots, ok=positive, want=POSITIVE),
            job_retries=read(
                env, "CHURN_JOB_RETRIES", int, cls.job_retries, ok=lambda v: 0 <= v <= 10, want="an integer (0-10)"
            ),
            job_heartbeat=read(
                env, "CHURN_JOB_HEARTBEAT", int, cls.job_heartbeat, ok=lambda v: 1 <= v <= 300, want="seconds (1-300)"
            ),
            range_tolerance=read_range_tolerance(env),
            metrics_emf=read(env, "CHURN_METRICS_EMF", str.lower, "0", ok=lambda v: v in SWITCH, want=SWITCH_WANT)
            in SWITCH_ON,
            metrics_emf_interval=read(
                env,
                "CHURN_METRICS_EMF_INTERVAL",
                int,
                cls.metrics_emf_interval,
                ok=lambda v: 1 <= v <= 3600,
                want="seconds (1-3600)",
            ),
            metrics_environment=read(
                env,
                "CHURN_METRICS_ENVIRONMENT",
                str,
                cls.metrics_environment,
                ok=lambda v: len(v) <= MAX_DIMENSION_VALUE and v.isprintable(),
                want=f"a name of at most {MAX_DIMENSION_VALUE} printable characters",
            ),
        )


def check_job_route_slots(settings: Settings, env: Mapping[str, str]) -> None:
    """Refuse CHURN_JOB_ROUTE_SLOTS >= CHURN_THREADS when jobs are on (REDIS_URL): job requests could then
    hold every thread of a server process, and /predict would wait behind a stalled Redis, which the
    slots exist to prevent. Without REDIS_URL no job request holds a thread (jobs_disabled is answered
    before a slot is taken), so any pair starts. Checked by the launcher, where CHURN_THREADS is the
    server's thread count (another WSGI server, gunicorn, has its own)."""
    slots, threads = settings.job_route_slots, settings.threads
    if settings.redis_url is None or slots < threads:
        return

    def said(name: str, value: int) -> str:
        return f"{name}={value}" + ("" if env.get(name, "").strip() else " (its default)")

    fix = (
        f"set CHURN_JOB_ROUTE_SLOTS to at most {threads - 1}, or raise CHURN_THREADS"
        if threads > 1
        else "give the server at least 2 threads (CHURN_THREADS), or unset REDIS_URL to run without jobs"
    )
    raise ConfigError(
        f"{said('CHURN_JOB_ROUTE_SLOTS', slots)} is not below {said('CHURN_THREADS', threads)}: job requests "
        f"could take every server thread and leave none for /predict; {fix}"
    )


def read_range_tolerance(env: Mapping[str, str]) -> float:
    """CHURN_RANGE_TOLERANCE, also read on its own by `campaign.py --offline`."""
    return read(
        env,
        "CHURN_RANGE_TOLERANCE",
        float,
        RANGE_TOLERANCE,
        ok=lambda v: 0 <= v <= 100,
        want="a number of training spans from 0 to 100",
    )


THRESHOLD_WANT = "a number strictly between 0 and 1 (not 0, not 1)"


def is_threshold(value: float) -> bool:
    """CHURN_THRESHOLD's rule, which `campaign.py --threshold` shares: the open interval (0, 1), since at 0
    every customer churns and at 1 none can (NaN compares False: refused too)."""
    return 0 < value < 1


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SWITCH_ON = ("1", "true", "yes", "on")
SWITCH = (*SWITCH_ON, "0", "false", "no", "off")
SWITCH_WANT = "1 or 0 (true/false, yes/no, on/off)"
MAX_DIMENSION_VALUE = 1024  # CloudWatch's longest dimension value
POSITIVE = "a positive integer"


def positive(value: int) -> bool:
    return value > 0


MIN_KEY_LENGTH = 16
KEY_CHARACTERS = "printable ASCII without spaces"


def is_header_safe_key(key: str) -> bool:
    """Whether a key travels in `Authorization: Bearer KEY` as it is: the service's keys (CHURN_API_KEYS)
    and the one `campaign.py` sends are held to this rule."""
    return key.isascii() and key.isprintable() and " " not in key


def read_api_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """CHURN_API_KEYS: comma-separated keys (several, so keys can be rotated without downtime).

    Fails closed: set but holding no key ("", " , ": an empty $KEY in `CHURN_API_KEYS=$KEY`) is an
    error, not an open service; only an unset variable runs open.
    """
    text = env.get("CHURN_API_KEYS")
    if text is None:
        return ()
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    if not keys:
        raise ConfigError("CHURN_API_KEYS is set but holds no key: give at least one, or unset it to run open")
    for position, key in enumerate(keys, 1):
        # The message names the key's position, never the key: start-up errors end up in logs.
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(f"CHURN_API_KEYS: key #{position} is shorter than {MIN_KEY_LENGTH} characters")
        if not is_header_safe_key(key):
            raise ConfigError(f"CHURN_API_KEYS: key #{position} must be {KEY_CHARACTERS}")
    return keys


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
REDIS_WANT = "a redis://, rediss:// or unix:// URL"


def read(
    env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T, *, ok: Callable[[T], bool], want: str
) -> T:
    """Parse one variable; an unset or empty variable means the default."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = parse(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not valid: expected {want}") from None
    if not ok(value):
        raise ConfigError(f"{name}={text!r} is out of range: expected {want}")
    return value
