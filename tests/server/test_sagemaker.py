"""SageMaker's start-up contract: the `serve` argument and the port it binds (the serving itself is
tests/system/test_protocol_clients.py and, in the image, tests/system/test_container.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churn.config import ConfigError
from churn.server.launch import main
from churn.server.protocols.sagemaker import PORT, serve_port


@pytest.mark.parametrize("args", [["train"], ["serve", "extra"], ["--serve"], ["Serve"]])
def test_any_argument_but_serve_is_a_usage_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2 and "usage" in capsys.readouterr().err


def test_serve_binds_8080_unless_sagemaker_names_a_port() -> None:
    assert serve_port({}) == PORT == 8080
    assert serve_port({"SAGEMAKER_BIND_TO_PORT": " "}) == 8080
    assert serve_port({"SAGEMAKER_BIND_TO_PORT": "9000"}) == 9000


@given(st.text(max_size=8))
def test_a_port_that_is_not_one_is_refused_with_its_name(text: str) -> None:
    environ = {"SAGEMAKER_BIND_TO_PORT": text}
    stripped = text.strip()
    if not stripped:
        assert serve_port(environ) == 8080
    elif stripped.isascii() and stripped.isdigit() and 0 < int(stripped) < 65536:
        assert serve_port(environ) == int(stripped)
    else:
        with pytest.raises(ConfigError, match="SAGEMAKER_BIND_TO_PORT"):
            serve_port(environ)
