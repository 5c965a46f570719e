"""The pages for people in a real browser: headless Chromium loads / and /model from the shipped server
(API keys configured, no key sent), and draws them. Each test writes its screenshot under its pytest tmp
dir (look at them: pytest prints the path of a failing test's; never commit them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from churn.core.model import card_path
from churn.reports.plots import BLUE
from tests.conftest import MODEL_PATH, Server
from tests.support.browser import chromium, console_messages

pytestmark = pytest.mark.server
READY_GREEN = "#15803d"  # the landing page's "ready" (churn/server/pages.py STYLE): its style was applied


@pytest.fixture(scope="module")
def secured() -> Iterator[Server]:
    server = Server(env={"CHURN_API_KEYS": "test-key-0123456789abcdef", "WEB_CONCURRENCY": "1"}).start()
    yield server
    server.stop()


def pixels_of(png: Path, color: str) -> int:
    """How many pixels of the screenshot are exactly this colour."""
    rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    image = Image.open(png).convert("RGB")
    return sum(count for count, pixel in image.getcolors(image.width * image.height) or [] if pixel == rgb)


def load(url: str, tmp_path: Path, size: str) -> tuple[str, Path]:
    """The page's DOM and its screenshot; neither load may log a console message (an error, a CSP refusal)."""
    dom = chromium(url, tmp_path / "profile", "--dump-dom")
    png = tmp_path / "page.png"
    drawn = chromium(url, tmp_path / "profile", f"--window-size={size}", f"--screenshot={png}")
    assert dom.returncode == drawn.returncode == 0, dom.stderr[-2000:] + drawn.stderr[-2000:]
    assert console_messages(dom) == console_messages(drawn) == [], (console_messages(dom), console_messages(drawn))
    assert png.stat().st_size > 0, drawn.stderr[-2000:]
    return dom.stdout, png


def test_the_model_card_renders_its_plots_without_a_key(secured: Server, tmp_path: Path) -> None:
    dom, png = load(secured.url + "/model", tmp_path, "1280,4000")
    card = card_path(MODEL_PATH).read_text()
    assert dom.count("<svg") == card.count("<svg") >= 5  # ROC, calibration, gains, lift, weights
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", dom)
    assert headings == re.findall(r"<h2[^>]*>([^<]+)</h2>", card) and "Self-test" in headings
    # The plots' blue is drawn only inside the SVGs: the browser drew them, under the page's CSP.
    assert pixels_of(png, BLUE) > 1000, png


def test_the_landing_page_renders_its_links_without_a_key(secured: Server, tmp_path: Path) -> None:
    dom, png = load(secured.url + "/", tmp_path, "1000,800")
    assert {"/model", "/docs", "/readyz", "/healthz"} <= set(re.findall(r'href="([^"]+)"', dom))
    assert "ready</span>" in dom and "need an API key" in dom
    assert pixels_of(png, READY_GREEN) > 0, png  # the inline style was applied, not refused by the CSP
