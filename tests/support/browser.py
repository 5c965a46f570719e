"""Headless Chromium for the browser tests (scripts/system-deps/60-chromium.sh installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

# No first-run, sync, update or other background traffic: the page under test is the only thing loaded.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
)  # fmt: skip
# With --enable-logging=stderr, every console message of the page (errors, CSP refusals) is a line like this.
CONSOLE = re.compile(r"^\[[^\]]*:CONSOLE[^\]]*\] (.*)$", re.MULTILINE)


def chromium(url: str, profile: Path, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Load url once (--dump-dom prints the DOM, --screenshot=PATH draws the page); skip without Chromium."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (scripts/system-deps/60-chromium.sh)")
    command = [binary, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *flags, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def console_messages(result: subprocess.CompletedProcess[str]) -> list[str]:
    return CONSOLE.findall(result.stderr)
