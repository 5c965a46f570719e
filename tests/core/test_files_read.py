"""Every file a command or the service reads by name (the model, its metadata, its card, an API key
file) must be a regular file: a named pipe would wait for a writer forever and /dev/zero would be read
until memory ends, so each is refused at once, naming the file and what it is (churn.files.read_regular)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaign
from churn.core.model import card_path, load_card, load_model, metadata_path
from churn.errors import ModelLoadError
from churn.files import read_regular
from tests.conftest import DATA_PATH, MODEL_PATH
from tests.support.special_files import deadline, directory, fifo, link_to, link_to_device

# Each kind a read file can be instead of a regular file, and what the refusal calls it (a symlink is
# judged by what it leads to: that is what a read would get).
READ_KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (fifo, "a named pipe"),
    "directory": (directory, "a directory"),
    "link to a fifo": (link_to(fifo), "a named pipe"),
    "link to a directory": (link_to(directory), "a directory"),
    "link to /dev/zero": (link_to_device("/dev/zero"), "a character device"),
    "link to /dev/null": (link_to_device("/dev/null"), "a character device"),
}
MODEL_FILES: dict[str, Callable[[Path], Path]] = {
    "model file": lambda model: model,
    "model metadata": metadata_path,
    "the model card": card_path,
}


def model_copy(folder: Path) -> Path:
    for path in (MODEL_PATH, metadata_path(MODEL_PATH), card_path(MODEL_PATH)):
        shutil.copy(path, folder / path.name)
    return folder / MODEL_PATH.name


def load_all(model: Path) -> None:
    loaded = load_model(model, sklearn_objects=False)
    load_card(model, loaded.metadata["model_sha256"])


@pytest.mark.parametrize("kind", READ_KINDS)
@pytest.mark.parametrize("which", MODEL_FILES)
def test_a_model_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, which: str, kind: str) -> None:
    model = model_copy(tmp_path)
    target = MODEL_FILES[which](model)
    target.unlink()
    make, called = READ_KINDS[kind]
    make(target)
    with deadline(10), pytest.raises(ModelLoadError) as refused:
        load_all(model)
    assert f"cannot read {which} {target}: it is {called}, not a regular file" in str(refused.value)


def test_a_copied_model_still_loads(tmp_path: Path) -> None:
    load_all(model_copy(tmp_path))


@pytest.mark.parametrize("kind", READ_KINDS)
def test_an_api_key_file_that_is_not_a_regular_file_is_a_usage_error(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "key"
    make, called = READ_KINDS[kind]
    make(key)
    argv = ["score", str(DATA_PATH), "--url", "http://127.0.0.1:9", "--api-key-file", str(key)]
    with deadline(10):
        assert campaign.main([*argv, "-o", str(tmp_path / "out.csv")]) == campaign.USAGE
    assert f"--api-key-file {key}: it is {called}, not a regular file" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


@settings(max_examples=50, deadline=None)
@given(content=st.binary(max_size=5000))
def test_a_regular_file_reads_as_its_bytes(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    path = tmp_path_factory.mktemp("read") / "file"
    path.write_bytes(content)
    assert read_regular(path) == content
    path.with_name("link").symlink_to(path.name)  # a symlink to a regular file reads through
    assert read_regular(path.with_name("link")) == content
