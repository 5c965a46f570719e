"""A safe retrain: a challenger trained on a new export replaces the champion only when it is not worse.

retrain() reads and checks the export (churn.core.training_data), trains a challenger the book's way
(churn.core.training), scores the export's held-out rows with both models and compares them:

    AUC on the held-out rows     the challenger's at least the champion's - AUC_DROP
    calibration error            the challenger's at most the champion's + CALIBRATION_RISE
    the panel's scores           no panel customer's probability moves by more than PANEL_SHIFT, unless
                                 the challenger's AUC is above the champion's + AUC_DROP
    the vocabulary               the challenger accepts every category the champion accepts

The panel is the champion's self-test customer and the fixed synthetic ones of churn.core.panel. When every
check passes, the challenger's model, metadata and card replace the champion's; otherwise nothing is
written, unless force says so (and the metadata says it was forced). Whatever is written records its
lineage: the decision, the parent model, the data's sha256, the comparison and the drift.

A retrain that changes nothing writes nothing: the same data gives the same model bytes, the metadata
keeps its training time when nothing else in it changed, and the card is drawn from the metadata. The
same data means the same rows read the same way: a copy with a byte-order mark, CRLF line ends or
another spelling of the header gives the same model and the same facts, and keeps the record of the
file first trained from.

The checks of the export come first: what the champion's API refuses (a category it never saw, a
number outside the ranges it accepts) is refused here too, unless force says so.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from churn.config import RANGE_TOLERANCE
from churn.core import card, features
from churn.core.evaluation import evaluate
from churn.core.model import GOLDEN_TOLERANCE, LoadedModel, card_path, load_model, metadata_path
from churn.core.panel import PANEL
from churn.core.scoring import Scorer
from churn.core.training import Candidate, build, predict
from churn.core.training_data import ExportComparison, compare_export, read_export
from churn.errors import ModelLoadError, TrainingDataError
from churn.files import printable

# The tolerances (docs/model.md says why these values): within them a challenger is "not worse".
AUC_DROP = 0.01  # 1.5 cross-validation standard deviations: a resample of the same customers stays within it
CALIBRATION_RISE = 0.02  # a decile of ~140 held-out rows knows its churn rate to a few points only
PANEL_SHIFT = 0.15  # a resample moves a fixed customer's score by up to ~0.13; noisy labels move it further

INITIAL, PROMOTED, FORCED, KEPT, UNCHANGED = "initial", "challenger promoted", "forced", "champion kept", "unchanged"


@dataclass(frozen=True)
class Comparison:
    """The champion and the challenger on the same held-out rows and the same panel."""

    rows: int
    checks: list[dict[str, Any]]
    panel: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.checks)

    def record(self) -> dict[str, Any]:
        return {"rows": self.rows, "checks": self.checks, "panel": self.panel}


@dataclass(frozen=True)
class Outcome:
    """What a retrain decided, and the metadata it wrote (or, when it wrote nothing, would have)."""

    decision: str
    metadata: dict[str, Any]
    export: ExportComparison | None = None
    comparison: Comparison | None = None
    written: list[Path] = field(default_factory=list)


def retrain(data_path: Path, model_path: Path, *, force: bool = False, tolerance: float = RANGE_TOLERANCE) -> Outcome:
    """Train on data_path and replace model_path (and its metadata and card) when the challenger is not worse.

    Raises TrainingDataError for an export that cannot be trained on, or that holds what the champion's
    API refuses (unless force): categories it never saw, numbers outside the ranges it accepts with the
    service's range tolerance. Raises ModelLoadError for a champion that cannot be loaded to compare
    with (unless force).
    """
    df = read_export(data_path)
    with exclusive(model_path.parent):  # another retrain into this folder waits: it then compares with ours
        return decide(df, data_path, model_path, force=force, tolerance=tolerance)


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold the folder's lock (flock on the folder itself: no lock file left beside the model)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def decide(df: Any, data_path: Path, model_path: Path, *, force: bool, tolerance: float) -> Outcome:
    """The challenger trained on df against the champion at model_path, written when it passes (or forced)."""
    champion, overridden = load_champion(model_path, force)
    export = compare_export(df, champion.metadata, tolerance) if champion else None
    if export:
        overridden += refused_by_champion(data_path, export, force)
    candidate = build(df, data_path)
    if champion and champion.metadata["model_sha256"] == candidate.metadata["model_sha256"]:
        # The same model, byte for byte: keep its lineage, so that nothing changes unless the code did.
        lineage = champion.metadata.get("lineage") or initial_lineage(candidate)
        metadata, written = write(model_path, same_data_record(candidate, champion.metadata), lineage)
        return Outcome(UNCHANGED, metadata, export, None, written)
    comparison = compare(champion, candidate) if champion else None
    if comparison and not comparison.passed:
        if not force:
            return Outcome(KEPT, {**candidate.metadata, "lineage": None}, export, comparison)
        overridden.append("the comparison with the champion")
    if champion is None and not overridden:
        lineage = initial_lineage(candidate)
    else:
        lineage = promoted_lineage(
            model_path, champion, candidate, export=export, comparison=comparison, overridden=overridden
        )
    metadata, written = write(model_path, candidate, lineage)
    return Outcome(str(lineage["decision"]), metadata, export, comparison, written)


def refused_by_champion(data_path: Path, export: ExportComparison, force: bool) -> list[str]:
    """What in the export the champion's API refuses: a TrainingDataError naming it, or, forced, its
    names for the lineage's overridden list.

    Such values would make the challenger, and so the API, accept what nobody decided to accept: a new
    category, or a number the plausibility guard refuses (one row of tenure 1000000 would widen the
    accepted tenure to millions).
    """
    found = {
        "categories the champion never saw": (
            export.unknown,
            f"categories the model has never seen: {export.unknown_text()}",
        ),
        "numbers outside the champion's accepted ranges": (
            export.outside,
            f"numbers the model refuses as out_of_range: {export.outside_text()}",
        ),
    }
    present = {name: text for name, (values, text) in found.items() if values}
    if present and not force:
        raise TrainingDataError(
            f"{printable(data_path)}: " + "; ".join(present.values()) + ". The champion cannot score them; if they are "
            "real, retrain with --force (the new model, and so the API, accepts them)"
        )
    return list(present)


def same_data_record(candidate: Candidate, champion: dict[str, Any]) -> Candidate:
    """The candidate, with the champion's record of its data file when only the file's name or bytes differ.

    The same model with every fact the metadata records from the data (rows, rates, ranges, vocabulary,
    distributions, metrics) is the same training, whatever the file's name, byte-order mark, line ends or
    header spelling: it keeps the file name and sha256 it was first trained from, so nothing is rewritten.
    """
    if data_facts(candidate.metadata) != data_facts(champion):
        return candidate
    data = {**candidate.metadata["data"], "file": champion["data"]["file"], "sha256": champion["data"]["sha256"]}
    return replace(candidate, metadata={**candidate.metadata, "data": data})


def data_facts(metadata: dict[str, Any]) -> Any:
    """The metadata without what writing it sets, nor the data file's name and sha256, as it reads back."""
    kept = {k: v for k, v in metadata.items() if k not in ("trained_at", "model_file", "lineage")}
    kept["data"] = {k: v for k, v in metadata.get("data", {}).items() if k not in ("file", "sha256")}
    return json.loads(json.dumps(kept))


def load_champion(model_path: Path, force: bool) -> tuple[LoadedModel | None, list[str]]:
    """The committed model to compare with: None when there is none yet (or, forced, when it cannot load)."""
    if not model_path.exists() and not metadata_path(model_path).exists():
        return None, []
    try:
        return load_model(model_path), []
    except ModelLoadError:
        if not force:
            raise
        return None, ["a champion that cannot be loaded"]


def compare(champion: LoadedModel, candidate: Candidate) -> Comparison:
    """Both models on the export's held-out rows (those whose categories the champion knows) and on the panel."""
    rows = candidate.test
    for name in features.CATEGORICAL:
        rows = rows[rows[name].isin(champion.vocabulary[name])]
    labels = rows[features.TARGET].to_numpy()
    old = evaluate(labels, predict(champion.dv, champion.estimator, rows))
    new = evaluate(labels, candidate.predict(rows))
    reference = champion.metadata["reference_customer"]["customer"]
    panel = []
    for customer in (reference, *PANEL):
        record = [{f: customer[f] for f in features.FIELDS}]
        before = float(champion.estimator.predict_proba(champion.dv.transform(record))[0, 1])
        after = float(candidate.model.predict_proba(candidate.dv.transform(record))[0, 1])
        panel.append({"customer": customer[features.ID_FIELD], "champion": before, "challenger": after})
    shift = max(abs(p["challenger"] - p["champion"]) for p in panel)
    lost = sorted(
        f"{name}={value}"
        for name in features.CATEGORICAL
        for value in champion.vocabulary[name]
        if value not in candidate.metadata["vocabulary"][name]
    )
    checks = [
        check("AUC", old["auc"], new["auc"], f">= champion - {AUC_DROP}", new["auc"] >= old["auc"] - AUC_DROP),
        check(
            "calibration error",
            old["calibration_error"],
            new["calibration_error"],
            f"<= champion + {CALIBRATION_RISE}",
            new["calibration_error"] <= old["calibration_error"] + CALIBRATION_RISE,
        ),
        check(
            f"largest score change over the panel ({len(panel)} customers)",
            None,
            shift,
            f"<= {PANEL_SHIFT}, or any with an AUC above the champion's + {AUC_DROP}",
            # Moved scores are a regression only in a model no better than the one it replaces: a challenger
            # clearly better on the held-out rows (a champion forced over a bad export) moves them by improving.
            shift <= PANEL_SHIFT or new["auc"] > old["auc"] + AUC_DROP,
        ),
        check(
            "categories the champion accepts and the challenger would refuse",
            None,
            ", ".join(lost) or "none",
            "none",
            not lost,
        ),
        check("log loss (not gated)", old["log_loss"], new["log_loss"], "reported only", True),
        check("Brier score (not gated)", old["brier"], new["brier"], "reported only", True),
    ]
    return Comparison(len(rows), checks, panel)


def check(name: str, champion: float | None, challenger: float | str, limit: str, passed: bool) -> dict[str, Any]:
    return {"name": name, "champion": champion, "challenger": challenger, "limit": limit, "passed": bool(passed)}


def initial_lineage(candidate: Candidate) -> dict[str, Any]:
    return {
        "decision": INITIAL,
        "parent_model_version": None,
        "parent_data_sha256": None,
        "data_sha256": candidate.metadata["data"]["sha256"],
        "overridden": [],
        "comparison": None,
        "drift_psi": None,
    }


def promoted_lineage(
    model_path: Path,
    champion: LoadedModel | None,
    candidate: Candidate,
    *,
    export: ExportComparison | None,
    comparison: Comparison | None,
    overridden: list[str],
) -> dict[str, Any]:
    parent = champion.metadata if champion else readable_metadata(model_path)
    return {
        "decision": FORCED if overridden else PROMOTED,
        "parent_model_version": parent.get("model_version"),
        "parent_data_sha256": parent.get("data", {}).get("sha256"),
        "data_sha256": candidate.metadata["data"]["sha256"],
        "overridden": overridden,
        "comparison": comparison.record() if comparison else None,
        "drift_psi": export.psi if export else None,
    }


def readable_metadata(model_path: Path) -> dict[str, Any]:
    """As much of an unloadable champion's metadata as can be read, for the lineage."""
    try:
        found = json.loads(metadata_path(model_path).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write(model_path: Path, candidate: Candidate, lineage: dict[str, Any]) -> tuple[dict[str, Any], list[Path]]:
    """Write the model, its metadata and its card, each only when its bytes change; return what was written."""
    metadata = {**candidate.metadata, "model_file": model_path.name, "lineage": lineage}
    metadata["trained_at"] = kept_time(metadata_path(model_path), metadata)
    metadata = json.loads(json.dumps(metadata))  # as it reads back: tuples as lists, keys as text
    golden = metadata["reference_customer"]
    got = Scorer.from_sklearn(candidate.dv, candidate.model).probability(golden["customer"])
    self_test = {"expected": golden["churn_probability"], "got": got}
    self_test["passed"] = abs(got - golden["churn_probability"]) <= GOLDEN_TOLERANCE
    files = {
        model_path: candidate.blob,
        metadata_path(model_path): (json.dumps(metadata, indent=2) + "\n").encode(),
        card_path(model_path): card.render(metadata, self_test).encode(),
    }
    written = [path for path, data in files.items() if write_if_changed(path, data)]
    return metadata, written


def kept_time(path: Path, metadata: dict[str, Any]) -> str:
    """The previous training time when the metadata is otherwise identical, else now."""
    previous = readable_metadata(path)
    if previous and {**previous, "trained_at": None} == json.loads(json.dumps({**metadata, "trained_at": None})):
        return str(previous["trained_at"])
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write via a temporary file and rename (a crash never leaves half a file), unless the bytes are there."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # this process's own (open() keeps the umask's mode)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True
