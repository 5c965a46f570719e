"""Load the committed model, refuse it unless it is exactly the one trained, and compile it."""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churn.config import RANGE_TOLERANCE
from churn.core import features
from churn.core.contract import Contract
from churn.core.explain import Explainer
from churn.core.scoring import Scorer
from churn.errors import ModelLoadError
from churn.files import printable, read_regular

# How far the compiled scorer may drift from the probability recorded at training. The two differ
# only by floating-point summation order (~1e-16), so anything visible means a different model.
GOLDEN_TOLERANCE = 1e-12


@dataclass(frozen=True)
class LoadedModel:
    """A verified model: the book's (dv, model) pair, its metadata and its compiled scorer."""

    dv: Any
    estimator: Any
    metadata: dict[str, Any]
    scorer: Scorer
    explainer: Explainer

    @property
    def version(self) -> str:
        return str(self.metadata["model_version"])

    @property
    def vocabulary(self) -> dict[str, list[Any]]:
        return dict(self.metadata["vocabulary"])

    def contract(self, tolerance: float = RANGE_TOLERANCE) -> Contract:
        """What a valid customer of this model is (its vocabulary, its training ranges widened by tolerance)."""
        return Contract(self.vocabulary, self.metadata["numeric_ranges"], tolerance)

    def self_test(self) -> dict[str, Any]:
        """Score the reference customer and compare with the probability recorded at training."""
        golden = self.metadata["reference_customer"]
        customer = {f: golden["customer"][f] for f in features.FIELDS}
        got = self.scorer.probability(customer)
        want = float(golden["churn_probability"])
        return {"passed": abs(got - want) <= GOLDEN_TOLERANCE, "expected": want, "got": got}


def metadata_path(model_path: Path) -> Path:
    """Where the metadata of a model file lives: beside it, with a .json suffix."""
    return model_path.with_suffix(".json")


def card_path(model_path: Path) -> Path:
    """Where the model card of a model file lives: beside it, with an .html suffix (churn.core.card)."""
    return model_path.with_suffix(".html")


def model_files(model_path: Path, name: str = "the model") -> dict[str, Path]:
    """A model's files, by what a message calls them: the model, its metadata and its card (train.py
    writes all three; campaign.py writes none of them)."""
    return {name: model_path, f"{name}'s metadata": metadata_path(model_path), f"{name}'s card": card_path(model_path)}


# The card names the model it describes in <meta name="churn-model-sha256" content="...">, so the service
# never serves the card of another model beside the one it loaded.
CARD_MODEL_META = "churn-model-sha256"


def load_card(model_path: Path, model_sha256: str) -> bytes:
    """The model card beside a model file, or ModelLoadError when it is missing or describes another model."""
    path = card_path(model_path)
    try:
        card = read_regular(path)
    except OSError as e:
        raise ModelLoadError(
            f"cannot read the model card {printable(path)}: {e.strerror}. Run `python train.py`."
        ) from e
    marker = f'<meta name="{CARD_MODEL_META}" content="{model_sha256}">'.encode()
    if marker not in card:
        raise ModelLoadError(
            f"the model card {printable(path)} describes another model than {printable(model_path)}. "
            "Run `python train.py`."
        )
    return card


def load_model(model_path: Path, *, sklearn_objects: bool = True) -> LoadedModel:
    """Read, verify and compile a model; raise ModelLoadError saying what is wrong and what to do.

    sklearn_objects=False gives dv and estimator as plain records of their fitted attributes, read
    without scikit-learn (which need not even be installed, as in the image): enough for the compiled
    scorer, which is all the service, the worker and offline scoring use. The sha256 and the golden
    self-test apply either way; the scikit-learn version only to unpickling its classes.
    """
    metadata = read_metadata(model_path)
    try:
        blob = read_regular(model_path)
    except OSError as e:
        raise ModelLoadError(
            f"cannot read model file {printable(model_path)}: {e.strerror}. Run `python train.py`."
        ) from e
    # Checked before unpickling: never unpickle bytes that are not the ones we trained.
    digest = hashlib.sha256(blob).hexdigest()
    if digest != metadata["model_sha256"]:
        raise ModelLoadError(
            f"{printable(model_path)} has sha256 {digest[:12]}..., but "
            f"{printable(metadata_path(model_path).name)} records "
            f"{metadata['model_sha256'][:12]}...: the file was changed or replaced. Restore both files from git "
            "or retrain them together with `python train.py`."
        )
    if sklearn_objects:
        check_sklearn_version(metadata["sklearn_version"])
        dv, estimator = pickle.loads(blob)  # noqa: S301 - our own file, its sha256 verified above
    else:
        dv, estimator = FittedAttributes.load(blob)
    try:
        scorer = Scorer.from_sklearn(dv, estimator)
    except (AttributeError, IndexError, ValueError) as e:
        raise ModelLoadError(
            f"{printable(model_path)} does not hold the fitted DictVectorizer and binary LogisticRegression "
            f"the service compiles ({e}). Retrain with `python train.py`."
        ) from e
    try:
        explainer = Explainer(scorer, metadata["explain_baseline"], metadata["score_quantiles"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelLoadError(
            f"model metadata lacks reason-code or percentile data ({e}). Run `python train.py`."
        ) from e
    model = LoadedModel(dv, estimator, metadata, scorer, explainer)
    check_consistency(model)
    return model


def check_sklearn_version(trained_with: str) -> None:
    """Unpickling scikit-learn's own classes needs the version that pickled them.

    Reading the fitted attributes instead (sklearn_objects=False: the service, the worker, offline
    scoring) needs no scikit-learn at all, so none is installed in the image: there, what proves the
    compiled scorer is the model trained is the sha256 of the file and the golden self-test.
    """
    import importlib.metadata  # noqa: PLC0415 - only this path asks: an offline run or a worker never imports it

    try:
        installed = importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        raise ModelLoadError(
            f"the model's scikit-learn objects need scikit-learn {trained_with}, which is not installed. "
            "Install the development dependencies (`make test`) or load it with sklearn_objects=False."
        ) from None
    if trained_with != installed:
        raise ModelLoadError(
            f"the model was trained with scikit-learn {trained_with} but {installed} "
            "is installed. Install the locked dependencies (`pipenv install --deploy --dev`) or retrain with "
            "`python train.py`."
        )


def read_metadata(model_path: Path) -> dict[str, Any]:
    path = metadata_path(model_path)
    try:
        metadata = json.loads(read_regular(path))
    except OSError as e:
        raise ModelLoadError(
            f"cannot read model metadata {printable(path)}: {e.strerror}. Run `python train.py`."
        ) from e
    except ValueError as e:
        raise ModelLoadError(f"model metadata {printable(path)} is not valid JSON ({e}). Run `python train.py`.") from e
    required = (
        "model_version",
        "model_sha256",
        "sklearn_version",
        "vocabulary",
        "numeric_ranges",
        "reference_customer",
    )
    missing = [key for key in required if key not in metadata] if type(metadata) is dict else ["an object"]
    if missing:
        raise ModelLoadError(f"model metadata {printable(path)} lacks {', '.join(missing)}. Run `python train.py`.")
    problems = shape_problems(metadata)
    if problems:
        raise ModelLoadError(f"model metadata {printable(path)}: {'; '.join(problems)}. Run `python train.py`.")
    return dict(metadata)


def shape_problems(metadata: dict[str, Any]) -> list[str]:
    """What in the metadata the loaders and the customer contract read is not of the type train.py writes
    (a hand-edited file): each a message, so that a loader refuses it instead of failing on it later."""
    problems = [f"{key} is not a string" for key in TEXTS if type(metadata[key]) is not str]
    vocabulary, ranges, golden = metadata["vocabulary"], metadata["numeric_ranges"], metadata["reference_customer"]
    if type(vocabulary) is not dict or not all(
        type(values) is list and all(type(v) in (str, int) for v in values) for values in vocabulary.values()
    ):
        problems.append("vocabulary is not an object of lists of values (strings, or seniorcitizen's integers)")
    if type(ranges) is not dict or not all(number_range(ranges.get(f)) for f in features.NUMERICAL):
        problems.append('numeric_ranges does not give each number field {"min": n, "max": m}, n <= m')
    golden = golden if type(golden) is dict else {}
    customer, probability = golden.get("customer"), golden.get("churn_probability")
    if type(customer) is not dict or not set(features.FIELDS) <= set(customer) or not real(probability):
        problems.append('reference_customer is not {"customer": {every field}, "churn_probability": number}')
    quantiles = metadata.get("score_quantiles")
    if (
        type(quantiles) is not list
        or len(quantiles) < 2
        or not all(map(real, quantiles))
        or quantiles != sorted(quantiles)
    ):
        problems.append("score_quantiles is not a rising list of numbers (two or more)")
    return problems


TEXTS = ("model_version", "model_sha256", "sklearn_version")


def real(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def number_range(value: Any) -> bool:
    return type(value) is dict and real(value.get("min")) and real(value.get("max")) and value["min"] <= value["max"]


def check_consistency(model: LoadedModel) -> None:
    """Refuse metadata whose vocabulary disagrees with the model, or a scorer that fails the self-test."""
    for field, table in model.scorer.categorical.items():
        if sorted(model.vocabulary.get(field, [])) != sorted(table):
            raise ModelLoadError(f"metadata vocabulary of {field!r} differs from the model's. Run `python train.py`.")
    result = model.self_test()
    if not result["passed"]:
        raise ModelLoadError(
            f"golden self-test failed: the reference customer scores {result['got']!r}, training recorded "
            f"{result['expected']!r}. Retrain with `python train.py`."
        )


class FittedAttributes:
    """A fitted scikit-learn object's attributes (feature_names_, coef_...), without its class."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @staticmethod
    def load(blob: bytes) -> Any:
        return _AttributesUnpickler(io.BytesIO(blob)).load()


class _AttributesUnpickler(pickle.Unpickler):
    """Unpickle scikit-learn objects as FittedAttributes; numpy's arrays as numpy's; refuse anything else."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("sklearn."):
            return FittedAttributes
        if module.split(".", maxsplit=1)[0] == "numpy" or (module, name) == ("copyreg", "_reconstructor"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object in the model file: {module}.{name}")
