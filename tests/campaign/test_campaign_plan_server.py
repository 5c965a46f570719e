"""A plan and a report through the real service, with --async, after a killed client, and in a browser.

Every path writes the bytes of an uninterrupted offline run, output and report alike. The report's
screenshot is written under the test's pytest tmp dir: look at it (never commit it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from churn.campaign.run import state_path
from churn.reports.plots import BLUE
from tests.campaign.test_campaign_server import run_campaign, start_campaign, wait_for_progress
from tests.conftest import DATA_PATH, PROJECT, Server
from tests.support.browser import chromium, console_messages
from tests.support.servers import RedisServer, RQWorker

pytestmark = pytest.mark.server

PLAN = ("--contact-cost", "10", "--retention-rate", "0.3", "--horizon-months", "12", "--budget", "700")
ARGS = (*PLAN, "--explain", "3")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CRM export twice over (14k rows)."""
    lines = DATA_PATH.read_text().splitlines(keepends=True)
    path = tmp_path_factory.mktemp("input") / "customers.csv"
    path.write_text("".join([lines[0], *lines[1:], *lines[1:]]))
    return path


@pytest.fixture(scope="module")
def expected(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """An uninterrupted offline run's output and report."""
    tmp = tmp_path_factory.mktemp("expected")
    out, report = tmp / "out.csv", tmp / "report.html"
    done = run_campaign(source, out, "--offline", *ARGS, "--report", str(report), timeout=120)
    assert done.returncode == 0, done.stderr
    return out.read_bytes(), report.read_bytes()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("stack")
    store = RedisServer(tmp).start()
    worker = RQWorker(tmp, store.url).start()
    api = Server(log_dir=tmp, env={"REDIS_URL": store.url}).start()
    yield api
    api.stop()
    worker.stop()
    store.stop()


@pytest.mark.parametrize("mode", [(), ("--async",)], ids=["online", "async"])
def test_the_service_and_async_write_the_offline_plan_and_report(
    stack: Server, source: Path, expected: tuple[bytes, bytes], tmp_path: Path, mode: tuple[str, ...]
) -> None:
    out, report = tmp_path / "out.csv", tmp_path / "report.html"
    args = ("--url", stack.url, *mode, "--chunk-size", "1000", *ARGS, "--report", str(report))
    done = run_campaign(source, out, *args, timeout=180)
    assert done.returncode == 0, done.stderr
    assert (out.read_bytes(), report.read_bytes()) == expected
    assert "contact 700 of 14086 scored" in done.stdout


def test_a_killed_client_resumes_to_the_same_plan_and_report(
    stack: Server, source: Path, expected: tuple[bytes, bytes], tmp_path: Path
) -> None:
    out, report = tmp_path / "out.csv", tmp_path / "report.html"
    args = ("--url", stack.url, "--chunk-size", "50", "--concurrency", "2", *ARGS, "--report", str(report))
    client = start_campaign(source, out, *args)
    wait_for_progress(out, client, 2000)
    client.kill()  # SIGKILL: no chance to tidy up
    client.communicate()
    assert not json.loads(state_path(out).read_text())["complete"], "finished before the kill: use a bigger input"
    assert not report.exists()
    resumed = run_campaign(source, out, *args, "--resume", timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert (out.read_bytes(), report.read_bytes()) == expected


def test_the_report_renders_in_headless_chromium(expected: tuple[bytes, bytes], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_bytes(expected[1])
    url = page.as_uri()
    dom = chromium(url, tmp_path / "profile", "--dump-dom")
    png = tmp_path / "report.png"
    drawn = chromium(url, tmp_path / "profile", "--window-size=1200,2300", f"--screenshot={png}")
    assert dom.returncode == drawn.returncode == 0, dom.stderr[-2000:] + drawn.stderr[-2000:]
    assert console_messages(dom) == console_messages(drawn) == []
    assert dom.stdout.count("<svg") == 3
    assert re.findall(r"<h2[^>]*>([^<]+)</h2>", dom.stdout) == ["Scores", "Reasons", "Segments"]
    assert "month-to-month" in dom.stdout and "fiber_optic" in dom.stdout
    # The charts' blue is drawn only inside the SVGs: the browser drew them.
    rgb = tuple(int(BLUE[i : i + 2], 16) for i in (1, 3, 5))
    image = Image.open(png).convert("RGB")
    blue = sum(n for n, pixel in image.getcolors(image.width * image.height) or [] if pixel == rgb)
    assert blue > 5000, png


def test_the_report_needs_no_project_checkout_to_be_read(expected: tuple[bytes, bytes]) -> None:
    """Self-contained: nothing in the page names a file of the project or of the machine."""
    text = expected[1].decode()
    assert str(PROJECT) not in text and "file://" not in text
