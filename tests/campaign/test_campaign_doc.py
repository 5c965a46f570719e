"""docs/campaign.md's worked example of a plan prints what the doc shows, and its prose's figures are the output's.

The doc's figures are not typed from memory: each `campaign.py` command of the plan section is run
here and its `# ...` lines compared with what it prints, so a retrained model or a changed rule fails
this test instead of leaving a stale doc.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import statistics
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


COSTS = PROJECT / "docs" / "campaign-costs.jsonl"
FLAGS = {
    "": "(none: the plain offline run)",
    "plan": "`--plan`",
    "report": "`--report`",
    "plan report": "`--plan --report`",
}


def flags_of(options: str) -> str:
    """The bench/offline.py flags that gave a round's campaign.py options."""
    return " ".join(name for name, option in (("plan", "--budget"), ("report", "--report")) if option in options)


def test_the_cost_table_is_the_medians_of_the_recorded_rounds() -> None:
    rounds = [json.loads(line) for line in COSTS.read_text().splitlines()]
    by_flags: dict[str, list[dict[str, float]]] = {}
    for r in rounds:
        assert r["rows"] == 1_000_000
        by_flags.setdefault(flags_of(r["options"]), []).append(r)
    costs = DOC[DOC.index("### What a plan and a report cost") : DOC.index("## Timeouts")]
    table = {
        cells[0]: cells[1:] for cells in re.findall(r"^\| (.+?) \| ([\d.]+) \| ([\d.]+) \| (\d+) \|$", costs, re.M)
    }
    assert set(table) == set(FLAGS.values())
    cpu = {}
    for flags, runs in by_flags.items():
        assert len(runs) == 3
        seconds, cpu[flags], rss = (statistics.median(r[k] for r in runs) for k in ("seconds", "cpu_s", "peak_rss_mib"))
        assert table[FLAGS[flags]] == (f"{seconds:.2f}", f"{cpu[flags]:.2f}", f"{rss:.0f}")
    plan, report, both = (cpu[f] - cpu[""] for f in ("plan", "report", "plan report"))
    added = (
        f"about {plan:.1f} CPU seconds per million rows here, `--report` about {report:.1f} ({both:.1f} with a plan)"
    )
    assert added in " ".join(costs.split())
