"""docs/campaign.md's worked example of a plan prints what the doc shows, and its prose's figures are the output's.

The doc's figures are not typed from memory: each `campaign.py` command of the plan section is run
here and its `# ...` lines compared with what it prints, so a retrained model or a changed rule fails
this test instead of leaving a stale doc.
"""

from __future__ import annotations

import csv
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.system.test_docs import shell_blocks

DOC = (PROJECT / "docs" / "campaign.md").read_text()
SECTION = DOC[DOC.index("## A plan within a budget") : DOC.index("## The campaign report")]


def examples() -> list[tuple[str, list[str]]]:
    """Each campaign.py command of the plan section (continuation lines joined) and the `# ` lines after it."""
    found = []
    for block in shell_blocks(SECTION):
        lines = block.replace("\\\n", " ").splitlines()
        for i, line in enumerate(lines):
            if "campaign.py score" in line:
                shown = []
                for after in lines[i + 1 :]:
                    if not after.startswith("#"):
                        break
                    shown.append(after.removeprefix("# "))
                found.append((line, shown))
    return found


EXAMPLES = examples()


def run(command: str, tmp_path: Path) -> tuple[list[str], Path]:
    """The command as the doc shows it, its output and report put in tmp_path; what it prints, and its output."""
    words = shlex.split(command)
    args = words[words.index("campaign.py") + 1 :]
    named = {}
    for option in ("--output", "--report"):
        if option in args:
            at = args.index(option) + 1
            named[str(tmp_path / args[at])] = args[at]
            args[at] = str(tmp_path / args[at])
    done = subprocess.run(
        [sys.executable, "campaign.py", *args], check=False, cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout
    for path, name in named.items():
        printed = printed.replace(path, name)
    return printed.splitlines(), tmp_path / args[args.index("--output") + 1]


def test_the_section_has_examples() -> None:
    assert len(EXAMPLES) == 3 and all(shown for _, shown in EXAMPLES)


@pytest.mark.parametrize(("command", "shown"), EXAMPLES, ids=["budget", "amount", "unlimited"])
def test_each_example_prints_what_the_doc_shows(command: str, shown: list[str], tmp_path: Path) -> None:
    printed, _ = run(command, tmp_path)
    assert printed == shown, command


def test_the_worked_customer_is_the_outputs_first_row(tmp_path: Path) -> None:
    _, output = run(EXAMPLES[0][0], tmp_path)
    with output.open(newline="") as f:
        first = next(csv.DictReader(f))
    with (PROJECT / "data" / "WA_Fn-UseC_-Telco-Customer-Churn.csv").open(newline="") as f:
        customer = next(csv.DictReader(f))
    sentence = " ".join(SECTION[SECTION.index("The first customer") :].split("\n\n")[0].split())
    numbers = re.search(r"probability of ([\d.]+) and monthly charges of ([\d.]+).*= ([\d.]+) \(its", sentence)
    assert numbers is not None, sentence
    assert numbers.groups() == (
        f"{float(first['churn_probability']):.3f}",
        customer["MonthlyCharges"],
        first["expected_value"],
    )
    assert first["contact"] == "false" and "`contact` is `false`" in sentence
    assert "500 customers are worth more" in sentence
