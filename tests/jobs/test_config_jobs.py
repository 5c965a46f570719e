"""Settings of the async jobs: defaults, parsing, bad values naming their variable, and job route slots
that would leave the server no thread for scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from churn.config import ConfigError, Settings, check_job_route_slots
from churn.server import app as server_app
from churn.server import launch


def test_jobs_are_off_by_default_with_a_day_of_ttl() -> None:
    settings = Settings.from_env({})
    assert (settings.redis_url, settings.job_ttl, settings.redis_timeout) == (None, 86_400, 2.0)


def test_job_limits_have_safe_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.job_max_cost, settings.jobs_per_caller, settings.jobs_max_active) == (500_000, 8, 64)
    assert (settings.job_route_slots, settings.job_retries, settings.job_heartbeat) == (2, 2, 10)


def test_job_limits_are_read() -> None:
    env = {
        "CHURN_JOB_MAX_COST": "1000",
        "CHURN_JOBS_PER_CALLER": "2",
        "CHURN_JOBS_MAX_ACTIVE": "3",
        "CHURN_JOB_ROUTE_SLOTS": "1",
        "CHURN_JOB_RETRIES": "0",
        "CHURN_JOB_HEARTBEAT": "5",
    }
    settings = Settings.from_env(env)
    assert (settings.job_max_cost, settings.jobs_per_caller, settings.jobs_max_active) == (1000, 2, 3)
    assert (settings.job_route_slots, settings.job_retries, settings.job_heartbeat) == (1, 0, 5)


def test_jobs_settings_are_read() -> None:
    env = {
        "REDIS_URL": "redis://r:6379/1",
        "CHURN_JOB_TTL": "60",
        "CHURN_JOB_MAX_BATCH": "7",
        "CHURN_REDIS_TIMEOUT": "0.5",
    }
    settings = Settings.from_env(env)
    assert (settings.redis_url, settings.job_ttl, settings.job_max_batch, settings.redis_timeout) == (
        "redis://r:6379/1",
        60,
        7,
        0.5,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "localhost:6379"),
        ("CHURN_JOB_TTL", "0"),
        ("CHURN_JOB_TTL", "a day"),
        ("CHURN_JOB_MAX_BATCH", "-1"),
        ("CHURN_REDIS_TIMEOUT", "0"),
        ("CHURN_REDIS_TIMEOUT", "forever"),
        ("CHURN_JOB_MAX_COST", "0"),
        ("CHURN_JOB_MAX_COST", "lots"),
        ("CHURN_JOBS_PER_CALLER", "0"),
        ("CHURN_JOBS_MAX_ACTIVE", "-5"),
        ("CHURN_JOB_ROUTE_SLOTS", "0"),
        ("CHURN_JOB_RETRIES", "-1"),
        ("CHURN_JOB_RETRIES", "11"),
        ("CHURN_JOB_HEARTBEAT", "0"),
        ("CHURN_JOB_HEARTBEAT", "0.5"),
        ("CHURN_JOB_HEARTBEAT", "301"),
    ],
)
def test_a_bad_jobs_setting_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


REDIS = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
# (CHURN_THREADS, CHURN_JOB_ROUTE_SLOTS) as given, None for unset (4 and 2), around slots == threads
BOUNDARY = sorted(
    {(t, s) for t in (1, 2, 3, 4, 5, 63, 64) for s in (t - 1, t, t + 1) if s > 0}
    | {(None, s) for s in (1, 3, 4, 5)}
    | {(t, None) for t in (1, 2, 3, 64)}
    | {(None, None)},
    key=str,
)


def env_of(threads: int | None, slots: int | None, jobs: bool = True) -> dict[str, str]:
    given = {"CHURN_THREADS": threads, "CHURN_JOB_ROUTE_SLOTS": slots}
    return {**(REDIS if jobs else {}), **{name: str(v) for name, v in given.items() if v is not None}}


@pytest.mark.parametrize(("threads", "slots"), BOUNDARY)
def test_job_route_slots_must_leave_a_thread_for_scoring_when_jobs_are_on(
    threads: int | None, slots: int | None
) -> None:
    env = env_of(threads, slots)
    settings = Settings.from_env(env)
    if settings.job_route_slots < settings.threads:
        check_job_route_slots(settings, env)
        return
    with pytest.raises(ConfigError) as refused:
        check_job_route_slots(settings, env)
    message = str(refused.value)
    for name, value, given in (("CHURN_JOB_ROUTE_SLOTS", settings.job_route_slots, slots),
                               ("CHURN_THREADS", settings.threads, threads)):  # fmt: skip
        assert f"{name}={value}" + ("" if given is not None else " (its default)") in message
    assert "/predict" in message
    if settings.threads > 1:
        assert f"at most {settings.threads - 1}" in message
    else:
        assert "at least 2 threads" in message and "REDIS_URL" in message


@pytest.mark.parametrize(("threads", "slots"), BOUNDARY)
def test_without_jobs_any_job_route_slots_starts(threads: int | None, slots: int | None) -> None:
    env = env_of(threads, slots, jobs=False)
    check_job_route_slots(Settings.from_env(env), env)  # no job request ever takes a thread


def test_the_documented_defaults_start_with_jobs_on() -> None:
    settings = Settings.from_env(REDIS)
    assert (settings.threads, settings.job_route_slots) == (4, 2)
    check_job_route_slots(settings, REDIS)


class Built(Exception):
    """The launcher went on to build the app: the settings were accepted."""


@pytest.mark.parametrize(("threads", "slots"), BOUNDARY)
def test_the_launcher_refuses_before_it_builds_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, threads: int | None, slots: int | None
) -> None:
    def build_app(settings: Settings) -> None:
        raise Built

    monkeypatch.setattr(server_app, "build_app", build_app)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("CHURN_THREADS", "CHURN_JOB_ROUTE_SLOTS", *REDIS):
        monkeypatch.delenv(name, raising=False)
    for name, value in env_of(threads, slots).items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(env_of(threads, slots))
    if settings.job_route_slots < settings.threads:
        with pytest.raises(Built):
            launch.main([])
        return
    with pytest.raises(SystemExit) as exited:
        launch.main([])
    assert str(exited.value.code).startswith("churn-serving cannot start: CHURN_JOB_ROUTE_SLOTS=")
