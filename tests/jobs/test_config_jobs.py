"""Settings of the async jobs: defaults, parsing, and bad values naming their variable."""

from __future__ import annotations

import pytest

from churn.config import ConfigError, Settings


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
