"""The files a campaign run reads and writes (churn.files holds the rules that each it writes is a
regular file or not there yet, and none is one it reads, or another it writes).

A run writes its output, the output's state file (replaced through a temporary copy), with a plan a
temporary copy of the output (renamed over it), and the files --top-output and --report name. It
reads the input, the model and its metadata (offline) and the key file. The model's card is not read,
but it is never written over either: the service serves it (churn.core.model.model_files).
"""

from __future__ import annotations

from pathlib import Path


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".state.json")


def temporary(path: Path) -> Path:
    """Where the next version of `path` is written in full, then renamed over it."""
    return path.with_name(path.name + ".tmp")


def state_tmp_path(output: Path) -> Path:
    return temporary(state_path(output))


def plan_tmp_path(output: Path) -> Path:
    """The output with a plan's columns, written in full and then renamed over the output."""
    return output.with_name(output.name + ".plan.tmp")


def written_files(output: Path, top_output: Path | None = None, report: Path | None = None) -> dict[str, Path]:
    """Every file a run may write, by what the user would call it."""
    files = {
        "--output": output,
        "the output's state file": state_path(output),
        "the state file's temporary copy": state_tmp_path(output),
        "the output's temporary copy": plan_tmp_path(output),
    }
    if top_output is not None:
        files["--top-output"] = top_output
    if report is not None:
        files["--report"] = report
    return files
