"""Train the book's churn model; replace churn-model.bin, .json and .html only when the new model is not worse.

Usage: python train.py [--data NEW.csv] [--output churn-model.bin] [--force]

Exit status: 0 the model was written (or was already the same), 1 the champion was kept (the challenger
is worse beyond the tolerances; nothing written), 2 the data, the committed model or the output path
cannot be used (checked before training where it can be), or CHURN_RANGE_TOLERANCE is not a tolerance,
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from churn.config import ConfigError, read_range_tolerance
from churn.core.model import load_model, model_files
from churn.core.service import ChurnService
from churn.errors import ModelLoadError, TrainingDataError
from churn.files import FileRefused, check_written, printable

NEEDS_TRAINING_PACKAGES = (
    "train.py needs {name}, one of the training packages, which the service does not install: "
    "`make train` (bash scripts/train.sh, which passes on train.py's arguments) installs them, then trains"
)
try:  # scikit-learn, pandas and matplotlib come with `make train`, not with the quick start's serve.sh
    from churn.core.retrain import KEPT, UNCHANGED, Outcome, retrain
    from churn.core.training import REFERENCE_CUSTOMER
    from churn.core.training_data import ExportComparison
except ModuleNotFoundError as missing:
    print(f"error: {NEEDS_TRAINING_PACKAGES.format(name=missing.name)}", file=sys.stderr)
    sys.exit(2)

HERE = Path(__file__).resolve().parent
PSI_SHIFTED = 0.25  # the usual rule of thumb: above it a field's distribution has shifted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "WA_Fn-UseC_-Telco-Customer-Churn.csv")
    parser.add_argument("--output", type=Path, default=HERE / "churn-model.bin")
    parser.add_argument(
        "--force",
        action="store_true",
        help="write the new model even when it is worse, or the export has new categories or numbers beyond "
        "the ranges the committed model accepts",
    )
    args = parser.parse_args(argv)
    try:
        outcome = run(args.data, args.output, args.force)
    except Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Each file is replaced whole (churn.core.retrain.write_if_changed); a model whose three files
        # disagree is refused by every loader, and a new run writes them again.
        print(
            f"interrupted: run it again to finish; {printable(args.output)} and its files are each whole",
            file=sys.stderr,
        )
        return 130
    for line in export_lines(outcome.export) + comparison_lines(outcome):
        print(line)
    m = outcome.metadata["metrics"]
    print(f"cross-validation AUC ({len(m['cv_auc_folds'])} folds): {m['cv_auc_mean']:.3f} +- {m['cv_auc_std']:.3f}")
    print(f"test AUC: {m['test_auc']:.3f}")
    if outcome.decision == KEPT:
        print(f"champion kept: the challenger is worse beyond the tolerances; {printable(args.output)} is unchanged")
        return 1
    # The book's customer, scored as the service scores it (it is not in the published metadata).
    book = ChurnService(load_model(args.output)).predict_one(REFERENCE_CUSTOMER)["churn_probability"]
    print(f"the book's customer {REFERENCE_CUSTOMER['customerid']}: churn probability {book:.4f}")
    version = outcome.metadata["model_version"]
    if outcome.decision == UNCHANGED and not outcome.written:
        print(f"{version}: the same model as {printable(args.output)}, byte for byte; nothing to write")
    else:
        names = ", ".join(printable(p.name) for p in outcome.written) or "nothing"
        print(f"{outcome.decision}: {version}; wrote {names}")
    return 0


class Refused(Exception):
    """Why train.py cannot go on (exit status 2), said in one line."""


def run(data: Path, output: Path, force: bool) -> Outcome:
    """retrain() with the service's range tolerance, every refusal turned into Refused."""
    try:
        tolerance = read_range_tolerance(os.environ)  # the service's own setting: the API's accepted ranges
    except ConfigError as e:
        raise Refused(str(e)) from None
    problem = output_problem(output)
    if problem:
        raise Refused(problem)
    # The model, its metadata and its card: regular files (or none yet), written over the champion's,
    # never over the export.
    try:
        check_written({"--data": data}, model_files(output, "--output"))
    except FileRefused as e:
        raise Refused(str(e)) from None
    try:
        return retrain(data, output, force=force, tolerance=tolerance)
    except TrainingDataError as e:
        raise Refused(str(e)) from None
    except ModelLoadError as e:
        raise Refused(f"the committed model cannot be compared with: {e} (--force replaces it)") from None
    except OSError as e:  # the checks above make it rare: a full disk, a file replaced meanwhile
        raise Refused(f"cannot write {printable(e.filename or output)}: {e.strerror or e}") from None


def output_problem(output: Path) -> str | None:
    """Why the model, its metadata and its card cannot be written beside output, found before training."""
    folder = output.parent
    if not folder.is_dir():
        return f"--output {printable(output)}: the folder {printable(folder)} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"--output {printable(output)}: the folder {printable(folder)} is not writable"
    return None


def export_lines(export: ExportComparison | None) -> list[str]:
    if export is None:
        return []
    lines = []
    if export.trained_churn_rate is not None:
        lines.append(
            f"churn rate: {export.churn_rate:.1%} in the export, {export.trained_churn_rate:.1%} in the champion's data"
        )
    if export.unknown:
        lines.append(f"categories the champion never saw (forced): {export.unknown_text()}")
    if export.outside:
        lines.append(f"numbers outside the champion's accepted ranges (forced): {export.outside_text()}")
    shifted = [f"{f} {v:.3f}" for f, v in sorted(export.psi.items(), key=lambda kv: -kv[1]) if v > PSI_SHIFTED]
    top = max(export.psi.items(), key=lambda kv: kv[1], default=("none", 0.0))
    lines.append(f"drift (PSI against training): largest {top[0]} {top[1]:.3f}")
    if shifted:
        lines.append(f"  shifted (PSI > {PSI_SHIFTED}): {', '.join(shifted)}")
    return lines


def comparison_lines(outcome: Outcome) -> list[str]:
    if outcome.comparison is None:
        return []
    lines = [f"champion vs challenger on {outcome.comparison.rows} held-out rows of the new data:"]
    for c in outcome.comparison.checks:
        verdict = "ok" if c["passed"] else "WORSE"
        lines.append(f"  {c['name']}: {show(c['champion'])} -> {show(c['challenger'])} ({c['limit']}): {verdict}")
    return lines


def show(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
