"""The end-of-run summary, read back from the output file so that it covers resumed runs too."""

from __future__ import annotations

import csv
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Summary:
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    churners: int = 0
    top: list[dict[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"rows {self.rows}  scored {self.scored}  rejected {self.rejected}  churners {self.churners}"]
        if self.top:
            out.append(f"top {len(self.top)} by churn probability:")
            out += [
                f"  {r['customerid'] or '-'}  {r['churn_probability']}  p{r['percentile']}  {r['reasons']}"
                for r in self.top
            ]
        return out


def output_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="") as f:
        yield from csv.DictReader(f)


def summarize(path: Path, top: int = 0) -> Summary:
    """Count the output's rows and pick the `top` highest-risk customers, in one bounded-memory pass."""
    summary = Summary()

    def counted() -> Iterator[dict[str, str]]:
        for row in output_rows(path):
            summary.rows += 1
            if row["error"]:
                summary.rejected += 1
                continue
            summary.scored += 1
            summary.churners += row["churn"] == "true"
            yield row

    scored = counted()
    summary.top = heapq.nlargest(top, scored, key=lambda r: float(r["churn_probability"])) if top else []
    for _ in scored:  # without --top nothing has read the rows yet
        pass
    return summary


def write_rows(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
