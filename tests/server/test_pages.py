"""The pages for people, in-process: the landing page and the model card, open, self-contained, truthful."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from churn.config import Settings
from churn.core.model import CARD_MODEL_META, LoadedModel, card_path, metadata_path
from churn.server.app import create_app
from churn.server.pages import CSP
from tests.conftest import MODEL_PATH, PROJECT

KEY = "k" * 24


@pytest.fixture(scope="module")
def secured(model: LoadedModel) -> Any:
    return create_app(Settings(api_keys=(KEY,)), model).test_client()


def test_the_model_card_is_served_open_as_committed(secured: Any) -> None:
    response = secured.get("/model")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.data == card_path(MODEL_PATH).read_bytes()
    assert response.headers["Content-Security-Policy"] == CSP and "script-src" not in CSP


def test_the_landing_page_links_pages_that_open_without_a_key(secured: Any, model: LoadedModel) -> None:
    response = secured.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    links = re.findall(r'href="([^"]+)"', page)
    assert {"/model", "/docs", "/readyz", "/healthz"} <= set(links)
    for link in links:
        assert secured.get(link).status_code == 200, link
    assert model.version in page and '<span class="ready">ready</span>' in page
    assert "need an API key" in page
    assert secured.post("/predict", json={}).status_code == 401  # the pages opened nothing else


def test_the_landing_page_says_what_readyz_says(model: LoadedModel) -> None:
    golden = model.metadata["reference_customer"]
    broken = dataclasses.replace(
        model, metadata={**model.metadata, "reference_customer": {**golden, "churn_probability": 0.5}}
    )
    client = create_app(Settings(), broken).test_client()
    assert client.get("/readyz").status_code == 503
    page = client.get("/").get_data(as_text=True)
    assert "not ready" in page and "every route is open" in page


@pytest.mark.parametrize("card", [None, b"<!doctype html><title>another model</title>", "other-sha"])
def test_without_the_models_own_card_model_is_a_json_404(
    tmp_path: Path, model: LoadedModel, card: bytes | str | None
) -> None:
    shutil.copy(MODEL_PATH, tmp_path / MODEL_PATH.name)
    shutil.copy(metadata_path(MODEL_PATH), tmp_path / metadata_path(MODEL_PATH).name)
    if card == "other-sha":
        text = card_path(MODEL_PATH).read_text()
        card = text.replace(model.metadata["model_sha256"], "0" * 64).encode()
        assert f'name="{CARD_MODEL_META}"' in card.decode()
    if card is not None:
        assert isinstance(card, bytes)
        card_path(tmp_path / MODEL_PATH.name).write_bytes(card)
    client = create_app(Settings(model_path=tmp_path / MODEL_PATH.name), model).test_client()
    response = client.get("/model")
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert "train.py" in response.json["error"]["message"] and str(tmp_path) not in response.json["error"]["message"]
    assert client.get("/").status_code == 200  # the rest of the service is unaffected


def test_the_service_never_imports_the_reports_matplotlib_or_pandas() -> None:
    code = (
        "import sys, churn_serving; client = churn_serving.app.test_client(); "
        "assert client.get('/model').status_code == client.get('/').status_code == 200; "
        "print(*(name in sys.modules for name in ('matplotlib', 'pandas', 'churn.reports', 'churn.core.card')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1].split() == ["False"] * 4  # the lines before it are the service's log
