"""Train the book's churn model and write churn-model.bin plus churn-model.json.

Usage: python train.py [--data data/WA_Fn-UseC_-Telco-Customer-Churn.csv] [--output churn-model.bin]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from churn.core.model import load_model
from churn.core.service import ChurnService
from churn.core.training import REFERENCE_CUSTOMER, train

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "WA_Fn-UseC_-Telco-Customer-Churn.csv")
    parser.add_argument("--output", type=Path, default=HERE / "churn-model.bin")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"error: training data not found: {args.data}", file=sys.stderr)
        return 2
    meta = train(args.data, args.output)
    m = meta["metrics"]
    # The book's customer, scored as the service scores it (it is not in the published metadata).
    book = ChurnService(load_model(args.output)).predict_one(REFERENCE_CUSTOMER)["churn_probability"]
    print(f"cross-validation AUC ({len(m['cv_auc_folds'])} folds): {m['cv_auc_mean']:.3f} +- {m['cv_auc_std']:.3f}")
    print(f"test AUC: {m['test_auc']:.3f}")
    print(f"the book's customer {REFERENCE_CUSTOMER['customerid']}: churn probability {book:.4f}")
    print(f"wrote {args.output} ({meta['model_version']}) and {args.output.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
