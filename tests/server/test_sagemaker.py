"""SageMaker's start-up contract: the `serve` argument and the port it binds (the serving itself is
tests/system/test_protocol_clients.py and, in the image, tests/system/test_container.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churn.config import ConfigError, Settings
from churn.core import features
from churn.core.model import LoadedModel
from churn.server.app import create_app
from churn.server.launch import fresh_metrics_dir, main
from churn.server.protocols.sagemaker import MAX_PAYLOAD_MB, PAYLOAD_BYTES_PER_MB, PORT, serve_port, shortest_line
from tests.conftest import PROJECT


@pytest.mark.parametrize("args", [["train"], ["serve", "extra"], ["--serve"], ["Serve"]])
def test_any_argument_but_serve_is_a_usage_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2 and "usage" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["-h"], ["--help"]])
def test_help_is_the_usage_on_stdout_and_status_0(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out = capsys.readouterr()
    assert exited.value.code == 0 and out.out.startswith("usage: python churn_serving.py") and out.err == ""


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


def shortest_lines(vocabulary: dict[str, list[Any]], size: int) -> str:
    """Headerless CSV of the shortest line the service scores, as many lines as `size` bytes hold (the
    last one without its line end when only so it fits)."""
    cells = []
    for column in features.EXPORT_COLUMNS:
        if column == features.ID_FIELD or column in features.BLANK_IS_ZERO:
            cells.append("")
        elif column in features.NUMERICAL:
            cells.append("0")
        else:
            cells.append(str(min(vocabulary[column], key=lambda v: len(str(v)))))
    line = ",".join(cells) + "\n"
    lines = line * ((size + 1) // len(line))
    return lines if len(lines) <= size else lines[:-1]


def test_the_shortest_line_is_one_the_service_scores(model: LoadedModel) -> None:
    vocabulary = model.metadata["vocabulary"]
    line = shortest_lines(vocabulary, shortest_line(vocabulary))
    assert len(line) == shortest_line(vocabulary) and line.count("\n") == 1
    answer = create_app(Settings(), model).test_client().post("/invocations", data=line, content_type="text/csv")
    assert answer.status_code == 200, answer.get_data(as_text=True)


def respelled(value: str) -> st.SearchStrategy[str]:
    """value in other spellings: each character's case, a space or "_" or "-" for a separator, white space around."""
    characters = [st.sampled_from([c.lower(), c.upper(), " ", "_", "-", ""] if c in " _-" else [c.lower(), c.upper()])
                  for c in value]  # fmt: skip
    around = st.sampled_from(["", " ", "\t", "\u00a0", "\u3000"])
    return st.tuples(around, st.tuples(*characters).map("".join), around).map("".join)


CATEGORY_FIELDS = [f for f in features.CATEGORICAL if f not in features.FLAG_FIELDS]


@given(data=st.data(), field=st.sampled_from(CATEGORY_FIELDS))
def test_no_spelling_the_contract_accepts_is_shorter_than_the_models_name(
    model: LoadedModel, data: st.DataObject, field: str
) -> None:
    """What shortest_line rests on: a category's accepted spellings are never shorter than the names."""
    names = [str(v) for v in model.metadata["vocabulary"][field]]
    text = data.draw(st.sampled_from(names).flatmap(respelled) | st.text(max_size=12))
    _, error = model.contract().fields[field].check(text)
    if error is None:
        assert len(text) >= min(map(len, names))


@pytest.mark.parametrize("below", [0, 1])
def test_multirecord_is_advertised_only_when_a_full_payload_of_the_shortest_lines_is_scored(
    model: LoadedModel, below: int
) -> None:
    """/execution-parameters: a mini-batch Batch Transform packs to the payload it was told is scored."""
    vocabulary = model.metadata["vocabulary"]
    payload = MAX_PAYLOAD_MB * PAYLOAD_BYTES_PER_MB
    most = shortest_lines(vocabulary, payload).count(",") // (len(features.EXPORT_COLUMNS) - 1)
    settings = Settings(max_batch=most - below, max_body_bytes=2 * payload)
    client = create_app(settings, model).test_client()
    advertised = client.get("/execution-parameters").get_json()
    answer = client.post("/invocations", data=shortest_lines(vocabulary, payload), content_type="text/csv")
    assert advertised["MaxPayloadInMB"] == MAX_PAYLOAD_MB
    assert (advertised["BatchStrategy"] == "MultiRecord") == (answer.status_code == 200) == (below == 0)


def test_the_protocols_doc_quotes_the_committed_models_figures(model: LoadedModel) -> None:
    vocabulary = model.metadata["vocabulary"]
    most = (MAX_PAYLOAD_MB * PAYLOAD_BYTES_PER_MB + 1) // shortest_line(vocabulary)
    text = " ".join((PROJECT / "docs" / "protocols.md").read_text().split())
    assert f"{shortest_line(vocabulary)} bytes with the committed model: {most:,} lines" in text
    assert f"set `CHURN_MAX_BATCH` to {most} or more" in text
    assert most > Settings().max_batch  # the doc says the default gets SingleRecord


def test_a_given_metrics_folder_loses_only_an_old_runs_metric_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "metrics"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("precious")
    (folder / "counter_123.db").write_bytes(b"old counts")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    fresh_metrics_dir()
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "sub"]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "new" / "deeper"))
    fresh_metrics_dir()
    assert (tmp_path / "new" / "deeper").is_dir()


def test_a_metrics_folder_that_is_a_file_stops_the_start_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "a-file"))
    with pytest.raises(SystemExit) as exited:
        fresh_metrics_dir()
    assert str(exited.value.code).startswith(
        f"churn-serving cannot start: PROMETHEUS_MULTIPROC_DIR {tmp_path / 'a-file'}"
    )


def test_without_a_given_metrics_folder_each_start_makes_exactly_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Empty is not given. (setenv, not delenv: delenv records nothing when the variable is unset, and the
    # folder this start makes would then stay in os.environ for every later test.)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fresh_metrics_dir()
    assert [p.name.startswith("churn-metrics-") for p in tmp_path.iterdir()] == [True]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(next(tmp_path.iterdir()))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "given"))
    fresh_metrics_dir()  # given: no temporary folder besides
    assert sorted(p.name for p in tmp_path.iterdir())[1:] == ["given"] and len(list(tmp_path.iterdir())) == 2
