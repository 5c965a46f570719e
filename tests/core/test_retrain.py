"""The safe retrain: a challenger replaces the committed champion only when it is not worse, and says how.

Every test starts from a copy of the committed model, metadata and card, and retrains on an export
derived from the bundled data: the same rows shuffled (a fair new export), labels flipped in the rows
the challenger trains on (a worse challenger), a category the champion never saw.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import train as train_cli
from churn.core import features
from churn.core.contract import shown
from churn.core.model import LoadedModel, card_path, load_model, metadata_path
from churn.core.panel import PANEL
from churn.core.retrain import FORCED, KEPT, PROMOTED, UNCHANGED, retrain
from churn.core.training import split
from churn.core.training_data import compare_export, read_export
from churn.errors import ModelLoadError, TrainingDataError
from tests.conftest import DATA_PATH, MODEL_PATH

COMMITTED = (MODEL_PATH, metadata_path(MODEL_PATH), card_path(MODEL_PATH))
with DATA_PATH.open(newline="") as f:
    ROWS = list(csv.DictReader(f))
COLUMN = {features.book_normalize(c): c for c in ROWS[0]}  # model field -> the export's column name


@pytest.fixture
def champion(tmp_path: Path) -> Path:
    """A copy of the committed model, its metadata and its card."""
    folder = tmp_path / "model"
    folder.mkdir()
    for path in COMMITTED:
        shutil.copy(path, folder / path.name)
    return folder / MODEL_PATH.name


def files(model: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (model, metadata_path(model), card_path(model))}


def committed() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in COMMITTED}


def export(folder: Path, rows: list[dict[str, str]], name: str = "export.csv") -> Path:
    path = folder / name
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def shuffled(seed: int = 0) -> list[dict[str, str]]:
    return [dict(ROWS[i]) for i in np.random.default_rng(seed).permutation(len(ROWS))]


def flipped_in_training(share: float) -> list[dict[str, str]]:
    """Shuffled rows whose labels are flipped in a share of the rows the challenger trains on (not the held-out)."""
    rows = shuffled()
    trained, _ = split(pd.DataFrame({"i": range(len(rows))}))
    for i in trained["i"].to_numpy()[: int(share * len(trained))]:
        rows[i]["Churn"] = "No" if rows[i]["Churn"] == "Yes" else "Yes"
    return rows


def with_category(field: str, value: str, count: int) -> list[dict[str, str]]:
    rows = shuffled()
    for r in rows[:count]:
        r[COLUMN[field]] = value
    return rows


def test_retraining_the_committed_model_on_its_data_changes_no_file(champion: Path) -> None:
    outcome = retrain(DATA_PATH, champion)
    assert outcome.decision == UNCHANGED and outcome.written == []
    assert files(champion) == committed()  # the committed card and metadata are current, timestamp included


def test_a_retrain_that_changes_nothing_keeps_the_training_time(champion: Path) -> None:
    meta = json.loads(metadata_path(champion).read_text())
    meta["trained_at"] = "2000-01-01T00:00:00+00:00"
    metadata_path(champion).write_text(json.dumps(meta, indent=2) + "\n")
    before = metadata_path(champion).read_bytes()
    outcome = retrain(DATA_PATH, champion)
    assert outcome.written == [card_path(champion)]  # only the card, which shows the time, is redrawn
    assert metadata_path(champion).read_bytes() == before
    assert "trained 2000-01-01T00:00:00+00:00" in card_path(champion).read_text()
    assert champion.read_bytes() == MODEL_PATH.read_bytes()


def test_a_fair_new_export_promotes_the_challenger_with_its_lineage(champion: Path, tmp_path: Path) -> None:
    parent = json.loads(metadata_path(champion).read_text())
    data = export(tmp_path, shuffled())
    outcome = retrain(data, champion)
    assert outcome.decision == PROMOTED and outcome.comparison is not None and outcome.comparison.passed
    meta = json.loads(metadata_path(champion).read_text())
    assert meta == outcome.metadata and meta["model_version"] != parent["model_version"]
    lineage = meta["lineage"]
    assert lineage["decision"] == PROMOTED and lineage["overridden"] == []
    assert lineage["parent_model_version"] == parent["model_version"]
    assert lineage["parent_data_sha256"] == parent["data"]["sha256"]
    assert lineage["data_sha256"] == meta["data"]["sha256"] != parent["data"]["sha256"]
    assert lineage["comparison"]["rows"] == meta["metrics"]["test_rows"]
    assert [p["customer"] for p in lineage["comparison"]["panel"]][1:] == [c["customerid"] for c in PANEL]
    assert set(lineage["drift_psi"]) == {*parent["vocabulary"], *parent["numeric_ranges"]}
    assert max(lineage["drift_psi"].values()) < 0.01  # the same customers in another order
    assert meta["trained_at"] != parent["trained_at"]
    model = load_model(champion)  # the written files load and pass their self-test together
    assert model.version == meta["model_version"]
    card = card_path(champion).read_text()
    assert meta["model_sha256"] in card and PROMOTED in card and parent["model_version"] in card
    promoted = files(champion)
    again = retrain(data, champion)  # the same export once more: the promoted model, its lineage and time stay
    assert again.decision == UNCHANGED and again.written == [] and files(champion) == promoted


def test_a_worse_challenger_is_refused_and_changes_nothing(
    champion: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = export(tmp_path, flipped_in_training(0.4))
    assert train_cli.main(["--data", str(data), "--output", str(champion)]) == 1
    out = capsys.readouterr().out
    assert "champion kept" in out and "AUC:" in out and "WORSE" in out
    assert files(champion) == committed()


def test_force_promotes_a_worse_challenger_and_says_so(champion: Path, tmp_path: Path) -> None:
    outcome = retrain(export(tmp_path, flipped_in_training(0.4)), champion, force=True)
    assert outcome.decision == FORCED and outcome.comparison is not None and not outcome.comparison.passed
    lineage = json.loads(metadata_path(champion).read_text())["lineage"]
    assert lineage["decision"] == FORCED and lineage["overridden"] == ["the comparison with the champion"]
    failed = {c["name"] for c in lineage["comparison"]["checks"] if not c["passed"]}
    assert "AUC" in failed
    assert FORCED in card_path(champion).read_text()


@pytest.mark.parametrize(
    ("edit", "failing"),
    [
        (lambda rows: flipped_in_training(0.15), "AUC"),
        (lambda rows: [{**r, "Churn": "Yes" if i % 4 == 0 else "No"} for i, r in enumerate(rows)], "panel"),
    ],
    ids=["noisy labels", "labels unrelated to the customers"],
)
def test_each_kind_of_worse_challenger_is_caught(
    champion: Path, tmp_path: Path, edit: Callable[[list[dict[str, str]]], list[dict[str, str]]], failing: str
) -> None:
    outcome = retrain(export(tmp_path, edit(shuffled())), champion)
    assert outcome.decision == KEPT and outcome.written == []
    assert outcome.comparison is not None
    assert any(failing in c["name"] for c in outcome.comparison.checks if not c["passed"])
    assert files(champion) == committed()


def test_a_clearly_better_challenger_replaces_a_bad_forced_champion_however_far_scores_move(
    champion: Path, tmp_path: Path
) -> None:
    """A champion forced over labels unrelated to the customers, then the real export: the panel's scores
    move far (they were noise), which is the improvement, not a regression."""
    unrelated = [{**r, "Churn": "Yes" if i % 4 == 0 else "No"} for i, r in enumerate(shuffled())]
    assert retrain(export(tmp_path, unrelated, "noise.csv"), champion, force=True).decision == FORCED
    outcome = retrain(DATA_PATH, champion)
    assert outcome.decision == PROMOTED and outcome.comparison is not None and outcome.comparison.passed
    panel = next(c for c in outcome.comparison.checks if "panel" in c["name"])
    assert panel["challenger"] > 0.15 and panel["passed"]
    auc = next(c for c in outcome.comparison.checks if c["name"] == "AUC")
    assert auc["challenger"] > auc["champion"] + 0.01


def test_two_retrains_into_one_folder_take_turns_and_the_second_compares_with_the_first(
    champion: Path, tmp_path: Path
) -> None:
    original = json.loads(metadata_path(champion).read_text())["model_version"]
    exports = [export(tmp_path, shuffled(seed), f"export-{seed}.csv") for seed in (1, 2)]
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda data: retrain(data, champion, force=True), exports))
    versions = [o.metadata["model_version"] for o in outcomes]
    parents = [o.metadata["lineage"]["parent_model_version"] for o in outcomes]
    # One of them went first, against the committed model; the other against the first one's result.
    first, second = (0, 1) if parents[0] == original else (1, 0)
    assert (parents[first], parents[second]) == (original, versions[first])
    final = json.loads(metadata_path(champion).read_text())
    assert final["model_version"] == versions[second] and load_model(champion).version == versions[second]
    assert not list(champion.parent.glob("*.tmp"))


def test_ctrl_c_is_one_line_and_status_130(
    champion: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "run", interrupted)
    assert train_cli.main(["--data", str(DATA_PATH), "--output", str(champion)]) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted: run it again to finish") and "Traceback" not in err
    assert files(champion) == committed()


@pytest.mark.parametrize(("field", "value"), [("contract", "Weekly"), ("paymentmethod", "Crypto"), ("gender", "X")])
def test_categories_the_champion_never_saw_are_refused(champion: Path, tmp_path: Path, field: str, value: str) -> None:
    with pytest.raises(TrainingDataError) as caught:
        retrain(export(tmp_path, with_category(field, value, 60)), champion)
    # the first 60 rows of the export hold it: lines 2 to 61 (the header is line 1)
    assert f"{field}='{value.lower()}' on lines 2, 3, 4, ... (60 rows)" in str(caught.value)
    assert "--force" in str(caught.value)
    assert files(champion) == committed()


def test_force_accepts_new_categories_and_the_new_model_knows_them(champion: Path, tmp_path: Path) -> None:
    outcome = retrain(export(tmp_path, with_category("contract", "Weekly", 200)), champion, force=True)
    assert outcome.decision == FORCED
    assert "categories the champion never saw" in outcome.metadata["lineage"]["overridden"]
    assert "weekly" in load_model(champion).vocabulary["contract"]
    # the champion was compared on the held-out rows it can score: those without the new category
    held_out = outcome.metadata["metrics"]["test_rows"]
    assert 0 < outcome.metadata["lineage"]["comparison"]["rows"] < held_out


def test_a_challenger_that_would_refuse_a_known_category_is_not_promoted(champion: Path, tmp_path: Path) -> None:
    rows = [r for r in shuffled() if r["PaymentMethod"] != "Mailed check"]
    outcome = retrain(export(tmp_path, rows), champion)
    assert outcome.decision == KEPT
    assert outcome.comparison is not None
    lost = next(c for c in outcome.comparison.checks if "would refuse" in c["name"])
    assert not lost["passed"] and lost["challenger"] == "paymentmethod=mailed_check"


def test_an_unloadable_champion_is_refused_unless_forced(champion: Path, tmp_path: Path) -> None:
    champion.write_bytes(champion.read_bytes() + b"tampered")
    data = export(tmp_path, shuffled())
    with pytest.raises(ModelLoadError):
        retrain(data, champion)
    assert train_cli.main(["--data", str(data), "--output", str(champion)]) == 2
    parent = json.loads(metadata_path(champion).read_text())["model_version"]
    outcome = retrain(data, champion, force=True)
    lineage: dict[str, Any] = outcome.metadata["lineage"]
    assert outcome.decision == FORCED and lineage["overridden"] == ["a champion that cannot be loaded"]
    assert lineage["parent_model_version"] == parent and lineage["comparison"] is None
    assert load_model(champion).self_test()["passed"]


def respelled_copies(folder: Path) -> list[Path]:
    """The bundled rows in other bytes: a byte-order mark, the other line ends and lower-case names, another
    spelling of the header, the same bytes under another name."""
    data = DATA_PATH.read_bytes()
    first, rest = data.split(b"\n", 1)
    header, end = first.removesuffix(b"\r"), b"\r\n" if first.endswith(b"\r") else b"\n"
    other_end = b"\n" if end == b"\r\n" else b"\r\n"
    variants = {
        "bom.csv": b"\xef\xbb\xbf" + data,
        "other-ends-lower.csv": (header.lower() + end + rest).replace(end, other_end),
        "spaced.csv": b",".join(b" " + name.upper() + b" " for name in header.split(b",")) + end + rest,
        "renamed.csv": data,
    }
    for name, content in variants.items():
        (folder / name).write_bytes(content)
    return [folder / name for name in variants]


def test_the_same_rows_in_other_bytes_change_no_file(champion: Path, tmp_path: Path) -> None:
    """docs/model.md: a retrain that changes nothing writes nothing, whatever the file's bytes or name."""
    for path in respelled_copies(tmp_path):
        outcome = retrain(path, champion)
        assert (path.name, outcome.decision, outcome.written) == (path.name, UNCHANGED, [])
        assert files(champion) == committed()


def test_a_changed_fact_with_the_same_model_is_written_with_the_new_file(champion: Path, tmp_path: Path) -> None:
    """Only the data file's name and sha256 are kept from the champion, and only when nothing else changed."""
    meta = json.loads(metadata_path(champion).read_text())
    meta["data"]["churners"] += 1  # as if the champion's data had one churner more
    metadata_path(champion).write_text(json.dumps(meta, indent=2) + "\n")
    (path,) = [p for p in respelled_copies(tmp_path) if p.name == "bom.csv"]
    outcome = retrain(path, champion)
    assert outcome.decision == UNCHANGED and metadata_path(champion) in outcome.written
    written = json.loads(metadata_path(champion).read_text())["data"]
    assert written["file"] == "bom.csv" and written["sha256"] != meta["data"]["sha256"]


def beyond_accepted(field: str, rows_changed: int = 1) -> tuple[list[dict[str, str]], str]:
    """Shuffled rows with a number just beyond the champion's accepted range in the first rows."""
    spec = load_model(MODEL_PATH).contract().fields[field]
    value = f"{spec.accepted[1] + 0.5:g}"  # type: ignore[union-attr]
    rows = shuffled()
    for r in rows[:rows_changed]:
        r[COLUMN[field]] = value
    return rows, value


@pytest.mark.parametrize("field", features.NUMERICAL)
def test_numbers_the_champion_refuses_are_refused_before_training(champion: Path, tmp_path: Path, field: str) -> None:
    """One row of tenure 1000000 would widen the served range to millions: the API's guard holds here too."""
    rows, value = beyond_accepted(field)
    with pytest.raises(TrainingDataError) as caught:
        retrain(export(tmp_path, rows), champion)
    message = str(caught.value)
    assert "out_of_range" in message and f"{field} outside the accepted" in message
    assert f"1 row ({value} on line 2)" in message and "--force" in message
    assert files(champion) == committed()


def test_the_range_check_is_the_services_own(model: LoadedModel) -> None:
    """compare_export flags exactly the numbers the champion's contract refuses as out_of_range, at any
    tolerance the service may run with."""
    df = read_export(DATA_PATH).head(50).copy()
    for tolerance in (0.0, 0.5, 1.0, 3.0):
        contract = model.contract(tolerance)
        for spec in contract.numbers:
            low, high = spec.accepted
            probes = [low, high, high + 0.01, high * 10, (low + high) / 2, 1e300]
            frame = df.copy()
            frame.iloc[: len(probes), frame.columns.get_loc(spec.name)] = probes  # lines 2 to 7
            flagged = compare_export(frame, model.metadata, tolerance).outside.get(spec.name, "")
            for line, value in enumerate(probes, 2):
                refused = spec.check(value)[1] is not None
                assert (f"{shown(value)} on line {line}" in flagged) == refused, (tolerance, spec.name, value)


def test_force_accepts_numbers_beyond_the_range_and_says_so(champion: Path, tmp_path: Path) -> None:
    rows, value = beyond_accepted("tenure", rows_changed=3)
    outcome = retrain(export(tmp_path, rows), champion, force=True)
    assert "numbers outside the champion's accepted ranges" in outcome.metadata["lineage"]["overridden"]
    assert load_model(champion).metadata["numeric_ranges"]["tenure"]["max"] == float(value)
