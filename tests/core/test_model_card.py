"""The model card: self-contained, drawn from the metadata alone, the card of its own model, no data rows."""

from __future__ import annotations

import copy
import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from churn.core import card
from churn.core.model import CARD_MODEL_META, card_path, load_card, metadata_path
from churn.core.training import REFERENCE_CUSTOMER
from churn.errors import ModelLoadError
from tests.conftest import DATA_PATH, MODEL_PATH

METADATA: dict[str, Any] = json.loads(metadata_path(MODEL_PATH).read_text())
CARD = card_path(MODEL_PATH).read_text()
SELF_TEST = {"expected": 0.25, "got": 0.25, "passed": True}


def test_the_card_needs_nothing_from_outside() -> None:
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", CARD, re.I)
    assert not re.search(r"url\((?!#)", CARD)  # clip paths refer to the page itself
    # The only addresses are the SVG namespaces, which a browser never fetches.
    attributes = re.findall(r'\s([\w:-]+)="([a-z]+://[^"]*)"', CARD)
    assert attributes and {name for name, _ in attributes} <= {"xmlns", "xmlns:xlink"}
    assert not re.search(r'(src|href)="(?!#)', CARD)


def test_the_card_draws_every_plot_and_ids_stay_unique() -> None:
    assert CARD.count("<svg") == 5  # ROC, calibration, gains, lift, weights
    ids = re.findall(r'\sid="([^"]+)"', CARD)
    assert len(ids) == len(set(ids))
    for ref in set(re.findall(r"url\(#([^)]+)\)|xlink:href=\"#([^\"]+)\"", CARD)):
        assert next(r for r in ref if r) in ids


def test_the_figures_on_the_card_are_the_metadatas() -> None:
    m = METADATA["metrics"]
    for value in (m["test_auc"], m["cv_auc_mean"], m["test_log_loss"], m["test_brier"], m["test_calibration_error"]):
        assert f"<b>{value:.3f}</b>" in CARD
    for d in METADATA["evaluation"]["deciles"]:
        assert f'<td class="n">{d["rows"]}</td><td class="n">{d["churners"]}</td>' in CARD
    for w in METADATA["weights"]["features"][: card.TOP_WEIGHTS]:
        assert f"<td>{w['feature']}</td>" in CARD
    assert f"{METADATA['weights']['features'][card.TOP_WEIGHTS]['feature']}</td>" not in CARD
    for field, values in METADATA["vocabulary"].items():
        assert f"<td>{field}</td>" in CARD and all(str(v) in CARD for v in values)


def test_the_largest_weights_are_listed_by_effect_with_their_direction() -> None:
    rows = re.findall(r"<td>([\w=()_-]+)</td><td>(raises|lowers) the risk</td><td class=\"n\">([+-][\d.]+)</td>", CARD)
    assert len(rows) == card.TOP_WEIGHTS
    effects = [float(e) for _, _, e in rows]
    assert [abs(e) for e in effects] == sorted((abs(e) for e in effects), reverse=True)
    assert all((d == "raises") == (e > 0) for (_, d, _), e in zip(rows, effects, strict=True))
    assert ("contract=two_year", "lowers") in {(f, d) for f, d, _ in rows}


def test_the_card_publishes_no_row_of_the_training_data() -> None:
    with DATA_PATH.open(newline="") as f:
        ids = {row["customerID"].lower() for row in csv.DictReader(f)}
    words = set(re.findall(r"[0-9]{4}-[a-z]{5}", CARD.lower()))
    assert not words & ids and REFERENCE_CUSTOMER["customerid"] not in CARD
    assert "synthetic-golden-customer" in CARD


def test_the_same_metadata_always_gives_the_same_card() -> None:
    assert card.render(METADATA, SELF_TEST) == card.render(copy.deepcopy(METADATA), SELF_TEST)
    later = {**METADATA, "trained_at": "2030-01-01T00:00:00+00:00"}
    assert card.render(later, SELF_TEST) != card.render(METADATA, SELF_TEST)


def test_a_failed_self_test_shows_on_the_card() -> None:
    failed = card.render(METADATA, {"expected": 0.25, "got": 0.5, "passed": False})
    assert '<td class="fail">failed</td>' in failed and '<td class="pass">passed</td>' in CARD


@pytest.mark.parametrize(
    "hostile", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</td></table><h1>x"]
)
def test_text_from_the_data_cannot_break_the_page(hostile: str) -> None:
    meta = copy.deepcopy(METADATA)
    meta["data"]["file"] = hostile
    meta["vocabulary"]["contract"].append(hostile)
    meta["training_distribution"]["categorical"]["contract"][hostile] = 0.0
    meta["weights"]["features"][0]["feature"] = hostile
    page = card.render(meta, SELF_TEST)
    assert hostile not in page.replace(CARD_MODEL_META, "")
    assert "<script" not in page and "<img" not in page and "<h1>x" not in page


def test_the_committed_card_is_the_committed_models(tmp_path: Path) -> None:
    assert load_card(MODEL_PATH, METADATA["model_sha256"]) == card_path(MODEL_PATH).read_bytes()
    with pytest.raises(ModelLoadError, match="describes another model"):
        load_card(MODEL_PATH, "0" * 64)
    shutil.copy(MODEL_PATH, tmp_path / MODEL_PATH.name)
    with pytest.raises(ModelLoadError, match="cannot read the model card"):
        load_card(tmp_path / MODEL_PATH.name, METADATA["model_sha256"])
