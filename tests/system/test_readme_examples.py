"""The answers the README shows under its commands are what those commands print today.

The README's figures are not typed from memory: each example's `# ...` lines are checked here against a
run of the command itself, so a retrained model or a changed output format fails this test instead of
leaving a stale README."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from churn.core.model import LoadedModel
from tests.conftest import PROJECT
from tests.system.test_docs import shell_blocks

README = (PROJECT / "README.md").read_text()


def example(command_pattern: str) -> tuple[str, list[str]]:
    """The README command (continuation lines joined) matching the pattern, and the `# ` lines after it."""
    for block in shell_blocks(README):
        lines = block.replace("\\\n", " ").splitlines()
        for i, line in enumerate(lines):
            if re.search(command_pattern, line):
                shown = []
                for after in lines[i + 1 :]:
                    if not after.startswith("#"):
                        break
                    shown.append(after.removeprefix("#").removeprefix(" "))
                return line, shown
    raise AssertionError(f"the README has no command matching {command_pattern!r}")


def test_the_book_customer_example_shows_what_predict_answers(client: Any) -> None:
    command, shown = example(r"curl .*/predict .*-d @examples/customer\.json")
    customer = json.loads((PROJECT / "examples" / "customer.json").read_text())
    answer = client.post("/predict", json=customer).get_json()
    assert shown == [json.dumps(answer, separators=(",", ":"))], command


def test_the_batch_example_names_the_served_model_version(model: LoadedModel) -> None:
    versions = set(re.findall(r'"model_version":"([^"]+)"', README))
    assert versions == {model.version}


def test_the_campaign_example_shows_what_campaign_prints(tmp_path: Path) -> None:
    """Run offline: the README promises the same output as through the service, which other tests prove."""
    command, shown = example(r"campaign\.py score .*--top")
    words = shlex.split(command.split("#")[0])
    args = words[words.index("campaign.py") + 1 :]
    args[args.index("--url") : args.index("--url") + 2] = ["--offline"]
    args[args.index("--output") + 1] = str(tmp_path / "scored.csv")
    run = subprocess.run(
        [sys.executable, "campaign.py", *args], check=False, cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == shown
