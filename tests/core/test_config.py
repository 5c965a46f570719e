"""Settings come from the environment once, and a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from churn.config import DEFAULT_MODEL_PATH, RANGE_TOLERANCE, ConfigError, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.port, settings.threshold, settings.max_batch) == (9696, 0.5, 10_000)
    assert settings.model_path == DEFAULT_MODEL_PATH
    assert settings.range_tolerance == RANGE_TOLERANCE == 1.0
    assert Settings.from_env({"CHURN_RANGE_TOLERANCE": "0.25"}).range_tolerance == 0.25


def test_values_are_read() -> None:
    env = {"PORT": "8080", "CHURN_THRESHOLD": "0.3", "CHURN_MAX_BATCH": "500", "CHURN_MODEL_PATH": "/m/x.bin",
           "LOG_LEVEL": "debug", "CHURN_MAX_BODY_BYTES": "1024"}  # fmt: skip
    settings = Settings.from_env(env)
    assert (settings.port, settings.threshold, settings.max_batch) == (8080, 0.3, 500)
    assert (settings.model_path, settings.log_level, settings.max_body_bytes) == (Path("/m/x.bin"), "DEBUG", 1024)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("CHURN_THRESHOLD", "1.5"),
        ("CHURN_THRESHOLD", "nan"),
        ("CHURN_THRESHOLD", "half"),
        ("CHURN_THRESHOLD", "0"),
        ("CHURN_THRESHOLD", "1"),
        ("CHURN_THRESHOLD", "inf"),
        ("CHURN_MAX_BATCH", "0"),
        ("CHURN_MAX_BATCH", "1e4"),
        ("CHURN_MAX_BODY_BYTES", "-1"),
        ("LOG_LEVEL", "LOUD"),
        ("CHURN_RANGE_TOLERANCE", "-0.5"),
        ("CHURN_RANGE_TOLERANCE", "nan"),
        ("CHURN_RANGE_TOLERANCE", "inf"),
        ("CHURN_RANGE_TOLERANCE", "wide"),
        ("CHURN_METRICS_EMF", "2"),
        ("CHURN_METRICS_EMF", "enabled"),
        ("CHURN_METRICS_EMF_INTERVAL", "0"),
        ("CHURN_METRICS_EMF_INTERVAL", "1.5"),
        ("CHURN_METRICS_EMF_INTERVAL", "3601"),
        ("CHURN_METRICS_ENVIRONMENT", "x" * 1025),
        ("CHURN_METRICS_ENVIRONMENT", "prod\nfake"),
    ],
)
def test_bad_values_name_their_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}="):
        Settings.from_env({name: value})


@pytest.mark.parametrize("value", ["0", "1", "-0.0", "1.0"])
def test_the_threshold_message_says_0_and_1_are_excluded(value: str) -> None:
    with pytest.raises(ConfigError) as e:
        Settings.from_env({"CHURN_THRESHOLD": value})
    assert "strictly between 0 and 1" in str(e.value) and "not 0, not 1" in str(e.value)


@pytest.mark.parametrize("value", ["a" * 16, "x" * 64, f"{'k' * 20},{'r' * 30}", f" {'k' * 20} , "])
def test_api_keys_are_read(value: str) -> None:
    keys = Settings.from_env({"CHURN_API_KEYS": value}).api_keys
    assert keys and all(len(k) >= 16 and k in value for k in keys)


@pytest.mark.parametrize("value", [" , ", ",", " ", ",,,", "\t,\n"])
def test_api_keys_set_but_empty_refuse_to_start_rather_than_run_open(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^CHURN_API_KEYS is set but holds no key"):
        Settings.from_env({"CHURN_API_KEYS": value})


@pytest.mark.parametrize("value", ["short", "k" * 20 + ",short", "k" * 15, "caf\u00e9" * 5, "a b" * 8])
def test_unusable_api_keys_refuse_to_start(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^CHURN_API_KEYS: key #"):
        Settings.from_env({"CHURN_API_KEYS": value})


def test_only_an_unset_variable_means_open() -> None:
    assert Settings.from_env({}).api_keys == ()


@pytest.mark.parametrize("value", ["", " ", ",", " , ", "\t", ",,,"])
def test_a_variable_set_to_no_key_refuses_to_start(value: str) -> None:
    """`CHURN_API_KEYS=$KEY` with an empty $KEY is a mistake, not a wish to run open: fail closed."""
    with pytest.raises(ConfigError, match=r"^CHURN_API_KEYS is set but holds no key"):
        Settings.from_env({"CHURN_API_KEYS": value})


@pytest.mark.parametrize(("value", "on"), [("1", True), ("true", True), ("ON", True), ("0", False), ("no", False),
                                           ("", False)])  # fmt: skip
def test_the_emf_switch_is_off_unless_turned_on(value: str, on: bool) -> None:
    assert Settings.from_env({"CHURN_METRICS_EMF": value}).metrics_emf is on
    assert Settings.from_env({}).metrics_emf is False
    emf = Settings.from_env({"CHURN_METRICS_EMF_INTERVAL": "10", "CHURN_METRICS_ENVIRONMENT": "churn-serving-env"})
    assert (emf.metrics_emf_interval, emf.metrics_environment) == (10, "churn-serving-env")
    assert (Settings().metrics_emf_interval, Settings().metrics_environment) == (60, "local")
