"""Model loading refuses anything but the model that was trained, and says what to do."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from churn.core.model import FittedAttributes, load_model
from churn.errors import ModelLoadError
from tests.conftest import MODEL_PATH, PROJECT


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    shutil.copy(MODEL_PATH, tmp_path / "churn-model.bin")
    shutil.copy(MODEL_PATH.with_suffix(".json"), tmp_path / "churn-model.json")
    return tmp_path / "churn-model.bin"


def edit_metadata(path: Path, **changes: Any) -> None:
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta.update(changes)
    meta_path.write_text(json.dumps(meta))


def test_the_committed_model_loads(model_copy: Path) -> None:
    assert load_model(model_copy).self_test()["passed"]


def test_a_tampered_model_file_is_refused_before_unpickling(model_copy: Path) -> None:
    model_copy.write_bytes(b"not a pickle at all")  # unpickling this would raise, not explain
    with pytest.raises(ModelLoadError, match=r"sha256 .* changed or replaced.*train\.py"):
        load_model(model_copy)


def test_a_different_sklearn_version_is_refused(model_copy: Path) -> None:
    edit_metadata(model_copy, sklearn_version="0.24.2")
    with pytest.raises(ModelLoadError, match=r"trained with scikit-learn 0\.24\.2 but .* installed.*pipenv install"):
        load_model(model_copy)


def test_missing_files_are_explained(model_copy: Path) -> None:
    model_copy.with_suffix(".json").unlink()
    with pytest.raises(ModelLoadError, match="cannot read model metadata"):
        load_model(model_copy)
    with pytest.raises(ModelLoadError, match="cannot read model metadata"):
        load_model(model_copy.parent / "elsewhere.bin")


def test_unreadable_metadata_is_explained(model_copy: Path) -> None:
    model_copy.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(model_copy)
    model_copy.with_suffix(".json").write_text("{}")
    with pytest.raises(ModelLoadError, match="lacks model_version"):
        load_model(model_copy)


def test_a_wrong_golden_value_is_refused(model_copy: Path) -> None:
    meta = json.loads(model_copy.with_suffix(".json").read_text())
    edit_metadata(model_copy, reference_customer={**meta["reference_customer"], "churn_probability": 0.0619})
    with pytest.raises(ModelLoadError, match="golden self-test failed"):
        load_model(model_copy)


def test_a_vocabulary_that_disagrees_with_the_model_is_refused(model_copy: Path) -> None:
    meta = json.loads(model_copy.with_suffix(".json").read_text())
    edit_metadata(model_copy, vocabulary={**meta["vocabulary"], "contract": ["month-to-month", "one_year"]})
    with pytest.raises(ModelLoadError, match="vocabulary of 'contract'"):
        load_model(model_copy)


def test_the_model_read_without_scikit_learn_scores_identically(model_copy: Path) -> None:
    full, light = load_model(model_copy), load_model(model_copy, sklearn_objects=False)
    assert light.self_test()["passed"]
    assert (light.scorer.intercept, light.scorer.categorical, light.scorer.numeric) == (
        full.scorer.intercept,
        full.scorer.categorical,
        full.scorer.numeric,
    )
    assert light.explainer.baseline == full.explainer.baseline


def test_the_light_load_imports_no_scikit_learn() -> None:
    code = (
        "import sys; from pathlib import Path; from churn.core.model import load_model; "
        f"load_model(Path({str(MODEL_PATH)!r}), sklearn_objects=False); "
        "print('sklearn' in sys.modules, 'scipy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_the_light_load_refuses_anything_but_fitted_attributes_and_arrays() -> None:
    evil = pickle.dumps(os.getcwd)  # any callable outside scikit-learn and numpy
    with pytest.raises(pickle.UnpicklingError, match="unexpected object"):
        FittedAttributes.load(evil)


WITHOUT_SCIKIT_LEARN = """
import importlib.abc, importlib.metadata, sys
class NoScikitLearn(importlib.abc.MetaPathFinder):  # as if it were not installed, as in the image
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"sklearn", "scipy"}:
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoScikitLearn())
real_version = importlib.metadata.version
def version(name):
    if name == "scikit-learn":
        raise importlib.metadata.PackageNotFoundError(name)
    return real_version(name)
importlib.metadata.version = version
from pathlib import Path
from churn.core.model import load_model
from churn.errors import ModelLoadError
model = load_model(Path(sys.argv[1]), sklearn_objects=False)
print(model.self_test()["passed"])
try:
    load_model(Path(sys.argv[1]))
except ModelLoadError as e:
    print(e)
"""


def test_the_service_loads_the_model_where_scikit_learn_is_not_installed(model_copy: Path) -> None:
    # The image has no scikit-learn: the light load needs none, whatever version trained the model
    # (sha256 and the golden self-test prove the scorer); unpickling its classes says what is missing.
    edit_metadata(model_copy, sklearn_version="0.24.2")
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_SCIKIT_LEARN, str(model_copy)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    )
    passed, message = done.stdout.splitlines()
    assert passed == "True"
    assert "need scikit-learn 0.24.2, which is not installed" in message


@pytest.mark.parametrize("attributes", [{}, {"feature_names_": ["contract=one_year"], "separator": "="}])
def test_a_model_file_without_the_fitted_attributes_is_refused(
    model_copy: Path, monkeypatch: pytest.MonkeyPatch, attributes: dict[str, Any]
) -> None:
    """Whatever the pickle holds in place of the pair, the light load explains it instead of crashing."""
    fake = type(sys)("sklearn.fake")

    class Fitted:
        def __init__(self, state: dict[str, Any]):
            self.__dict__.update(state)

    Fitted.__module__, Fitted.__qualname__ = "sklearn.fake", "Fitted"
    fake.Fitted = Fitted  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sklearn.fake", fake)
    blob = pickle.dumps((Fitted(attributes), Fitted({})))
    model_copy.write_bytes(blob)
    edit_metadata(model_copy, model_sha256=hashlib.sha256(blob).hexdigest())
    with pytest.raises(ModelLoadError, match=r"does not hold the fitted DictVectorizer.*train\.py"):
        load_model(model_copy, sklearn_objects=False)


ODD_VALUES = [None, True, 0, -1.5, "a", [], ["a"], {}, {"min": "a", "max": 1}, {"a": None}]


def loaded_or_refused(model_path: Path) -> None:
    """What every loader does with a model: load it, compile its contract and build the app on it."""
    from churn.config import Settings  # noqa: PLC0415
    from churn.core.service import ChurnService  # noqa: PLC0415
    from churn.server.app import create_app  # noqa: PLC0415

    model = load_model(model_path, sklearn_objects=False)
    service = ChurnService(model)
    create_app(Settings(), model)
    customer = dict(model.metadata["reference_customer"]["customer"])
    assert len(service.score_rows([customer, {}], explain=3)["predictions"]) == 2


@pytest.mark.parametrize("key", ["model_version", "model_sha256", "sklearn_version", "vocabulary", "numeric_ranges",
                                 "reference_customer", "explain_baseline", "score_quantiles"])  # fmt: skip
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_metadata_edited_to_another_type_is_refused_as_such(model_copy: Path, key: str, value: Any) -> None:
    """A hand-edited churn-model.json: a ModelLoadError naming the file (exit 2 in every tool, a refusal
    to start in the service), never a TypeError or ValueError from deep inside a loader."""
    edit_metadata(model_copy, **{key: value})
    try:
        loaded_or_refused(model_copy)  # a value of the right type ("a" as a version) is a model like another
    except ModelLoadError as e:
        assert re.search("Run `python train.py`|Retrain|Restore", str(e)), e


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
@pytest.mark.parametrize("part", ["vocabulary", "numeric_ranges", "reference_customer"])
def test_metadata_with_one_entry_of_another_type_is_refused(model_copy: Path, part: str, value: Any) -> None:
    meta = json.loads(model_copy.with_suffix(".json").read_text())
    entry = {"vocabulary": "contract", "numeric_ranges": "tenure", "reference_customer": "customer"}[part]
    edit_metadata(model_copy, **{part: {**meta[part], entry: value}})
    with contextlib.suppress(ModelLoadError):
        loaded_or_refused(model_copy)
