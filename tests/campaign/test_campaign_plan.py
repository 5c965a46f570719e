"""campaign.py with a plan and a report, offline: usage errors, the contact column, figures, resume, the facts.

The same through the service and --async: tests/campaign/test_campaign_plan_server.py.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

import campaign
from churn.campaign.facts import arrow_facts, python_facts
from churn.campaign.outcome import plain, python_lines, read_scores, write_plan_columns
from churn.campaign.output import OUTPUT_COLUMNS, PLAN_COLUMNS, plan_cells
from churn.campaign.run import state_path
from tests.conftest import DATA_PATH, make_customer

PLAN = ("--contact-cost", "10", "--retention-rate", "0.3", "--horizon-months", "12")


def head(lines: int, tmp: Path, name: str = "in.csv") -> Path:
    out = tmp / name
    out.write_text("".join(DATA_PATH.read_text().splitlines(keepends=True)[: lines + 1]))
    return out


def score(source: Path, out: Path, *args: str) -> int:
    return campaign.main(["score", str(source), "--offline", "-o", str(out), *args])


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


BAD_OPTIONS = [
    (("--contact-cost", "-1", "--retention-rate", "0.3", "--horizon-months", "12"), "--contact-cost"),
    (("--contact-cost", "nan", "--retention-rate", "0.3", "--horizon-months", "12"), "--contact-cost"),
    (("--contact-cost", "€5", "--retention-rate", "0.3", "--horizon-months", "12"), "--contact-cost"),
    (("--contact-cost", "1,000", "--retention-rate", "0.3", "--horizon-months", "12"), "--contact-cost"),
    (("--contact-cost", "5", "--retention-rate", "1.5", "--horizon-months", "12"), "--retention-rate"),
    (("--contact-cost", "5", "--retention-rate", "-0.1", "--horizon-months", "12"), "--retention-rate"),
    (("--contact-cost", "5", "--retention-rate", "nan", "--horizon-months", "12"), "--retention-rate"),
    (("--contact-cost", "5", "--retention-rate", "30%", "--horizon-months", "12"), "--retention-rate"),
    # a share is written as an amount is: plain decimals only, as --contact-cost and --budget-amount
    *[
        (("--contact-cost", "5", "--retention-rate", share, "--horizon-months", "12"), "--retention-rate")
        for share in ("\uff11", "\u0660.\u0665", "0.5e0", "1e-1", "+0.5", " 0.5", "0.5 ", "1_0", "0x1", "inf", "")
    ],
    (("--contact-cost", "5", "--retention-rate", "0.3", "--horizon-months", "0"), "--horizon-months"),
    (("--contact-cost", "5", "--retention-rate", "0.3", "--horizon-months", "1.5"), "--horizon-months"),
    ((*PLAN, "--budget", "0"), "--budget"),
    ((*PLAN, "--budget", "-3"), "--budget"),
    ((*PLAN, "--budget", "1e3"), "--budget"),
    ((*PLAN, "--budget-amount", "0"), "--budget-amount"),
    ((*PLAN, "--budget-amount", "-100"), "--budget-amount"),
    ((*PLAN, "--budget-amount", "€2000"), "--budget-amount"),
    ((*PLAN, "--budget-amount", "inf"), "--budget-amount"),
    (("--budget", "100"), "--contact-cost"),  # a budget without the economics
    (("--contact-cost", "5", "--retention-rate", "0.3"), "--horizon-months"),
    (("--report", "report.pdf"), "--report"),
    (("--report", "missing/report.html"), "--report"),
]


@pytest.mark.parametrize(("args", "named"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_plan_options_are_usage_errors_that_name_the_option(
    args: tuple[str, ...], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = head(5, tmp_path)
    out = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as e:
        score(source, out, *args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err, err
    assert not out.exists()  # refused before anything was scored


def test_the_report_may_not_overwrite_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = head(5, tmp_path)
    out = tmp_path / "out.html"
    with pytest.raises(SystemExit) as e:
        score(source, out, "--report", str(out))
    assert e.value.code == 2 and "--report" in capsys.readouterr().err


def test_without_a_plan_the_output_is_the_same_bytes_with_or_without_a_report(tmp_path: Path) -> None:
    source = head(400, tmp_path)
    plain, reported = tmp_path / "plain.csv", tmp_path / "reported.csv"
    assert score(source, plain, "--explain", "2") == 0
    assert score(source, reported, "--explain", "2", "--report", str(tmp_path / "r.html")) == 0
    assert plain.read_bytes() == reported.read_bytes()
    assert read(plain)[0].keys() == set(OUTPUT_COLUMNS)


def test_the_plan_columns_and_summary_are_sums_over_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = head(2000, tmp_path)
    out = tmp_path / "out.csv"
    assert score(source, out, *PLAN, "--budget", "150", "--explain", "3") == 0
    rows = read(out)
    assert list(rows[0]) == [*OUTPUT_COLUMNS, *PLAN_COLUMNS]
    inputs = read(source)
    # Each expected value is the formula on the row's own probability and monthly charges.
    for row, customer in zip(rows, inputs, strict=True):
        want = float(row["churn_probability"]) * 0.3 * (float(customer["MonthlyCharges"]) * 12) - 10
        assert row["expected_value"] == f"{want:.2f}"
    chosen = [r for r in rows if r["contact"] == "true"]
    values = [float(r["expected_value"]) for r in rows]
    assert len(chosen) == 150 and all(float(r["expected_value"]) > 0 for r in chosen)
    assert min(float(r["expected_value"]) for r in chosen) >= max(
        v for r, v in zip(rows, values, strict=True) if r["contact"] == "false"
    )
    summary = capsys.readouterr().out
    figures = dict(re.findall(r"(expected churners reached|expected revenue kept|cost|net value) ([\d,.]+)", summary))
    number = {k: float(v.replace(",", "")) for k, v in figures.items()}
    assert f"contact 150 of {len(rows)} scored" in summary
    assert number["expected churners reached"] == pytest.approx(
        sum(float(r["churn_probability"]) for r in chosen), abs=0.05
    )
    assert number["cost"] == 150 * 10
    # The cells are rounded to cents: their sum is within half a cent per row of the exact sum.
    assert abs(number["net value"] - sum(float(r["expected_value"]) for r in chosen)) <= 0.005 * 150 + 0.005
    assert number["expected revenue kept"] == pytest.approx(number["net value"] + number["cost"], abs=0.01)


def test_an_amount_budget_buys_whole_contacts_and_no_budget_contacts_every_one_worth_it(tmp_path: Path) -> None:
    source = head(1000, tmp_path)
    amount, unlimited = tmp_path / "amount.csv", tmp_path / "unlimited.csv"
    assert score(source, amount, *PLAN, "--budget-amount", "995.50") == 0
    assert sum(r["contact"] == "true" for r in read(amount)) == 99  # 995.50 // 10
    assert score(source, unlimited, *PLAN) == 0
    rows = read(unlimited)
    assert [r["contact"] == "true" for r in rows] == [float(r["expected_value"]) > 0 for r in rows]


def test_rejected_rows_are_never_contacted_and_show_no_plan_cells(tmp_path: Path) -> None:
    rows = [make_customer(customerid=f"c{i}", monthlycharges=100.0 + i) for i in range(6)]
    rows[2]["contract"] = "monthly"
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    out = tmp_path / "out.csv"
    assert score(source, out, "--contact-cost", "0.01", "--retention-rate", "1", "--horizon-months", "24") == 1
    output = read(out)
    assert [r["contact"] for r in output] == ["true", "true", "", "true", "true", "true", ""]
    assert output[2]["expected_value"] == output[6]["expected_value"] == ""


def test_the_chunked_path_writes_the_same_plan_as_the_offline_engine(tmp_path: Path) -> None:
    """A CSV file goes through the offline engine, the same rows as JSON Lines through the chunked path."""
    source = head(1500, tmp_path)
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in read(source)))
    fast, chunked = tmp_path / "fast.csv", tmp_path / "chunked.csv"
    report_fast, report_chunked = tmp_path / "fast.html", tmp_path / "chunked.html"
    args = (*PLAN, "--budget", "120", "--explain", "2")
    assert score(source, fast, *args, "--report", str(report_fast)) == 0
    assert score(jsonl, chunked, *args, "--chunk-size", "97", "--report", str(report_chunked)) == 0
    assert fast.read_bytes() == chunked.read_bytes()
    # The page names its input; apart from that name, the same bytes.
    assert report_fast.read_text().replace("in.csv", "in.jsonl") == report_chunked.read_text()


def test_a_finished_output_resumed_with_a_plan_gets_the_plan_of_a_fresh_run(tmp_path: Path) -> None:
    """What a crash between the last row and the plan leaves (a complete output without plan columns),
    resumed; then resumed again (the plan is applied again from the same scores: the same bytes)."""
    source = head(1200, tmp_path)
    fresh, resumed = tmp_path / "fresh.csv", tmp_path / "resumed.csv"
    args = (*PLAN, "--budget", "80", "--explain", "1")
    assert score(source, fresh, *args, "--report", str(tmp_path / "fresh.html")) == 0
    carried = tmp_path / "carried.csv"  # without a report, planned from what the engine kept: the same bytes
    assert score(source, carried, *args) == 0 and carried.read_bytes() == fresh.read_bytes()
    assert score(source, resumed, "--explain", "1") == 0
    assert json.loads(state_path(resumed).read_text())["complete"]
    for _ in range(2):
        assert score(source, resumed, *args, "--resume", "--report", str(tmp_path / "resumed.html")) == 0
        assert resumed.read_bytes() == fresh.read_bytes()
        assert (tmp_path / "resumed.html").read_bytes() == (tmp_path / "fresh.html").read_bytes()
    # Resumed without a plan, the output is the planless one again.
    assert score(source, resumed, "--explain", "1", "--resume") == 0
    assert list(read(resumed)[0]) == list(OUTPUT_COLUMNS)


def test_an_interrupted_planned_run_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    """Interrupted mid-run (the state says how far), resumed on the chunked path: the same output and report."""
    source = tmp_path / "in.csv"
    lines = DATA_PATH.read_text().splitlines(keepends=True)
    source.write_text("".join([lines[0], *lines[1:], *lines[1:]]))
    fresh, cut = tmp_path / "fresh.csv", tmp_path / "cut.csv"
    args = (*PLAN, "--budget", "300", "--explain", "2")
    assert score(source, fresh, *args, "--report", str(tmp_path / "fresh.html")) == 0
    # A run killed after 5,000 rows: the chunked path's output and state for them.
    partial = tmp_path / "partial.csv"
    partial.write_text("".join(source.read_text().splitlines(keepends=True)[:5001]))
    assert score(partial, cut, "--explain", "2") == 0
    state = json.loads(state_path(cut).read_text())
    state.update(complete=False, input_sha256=hashlib.sha256(source.read_bytes()).hexdigest())
    state_path(cut).write_text(json.dumps(state))
    partial_output = cut.read_bytes()
    assert score(source, cut, *args, "--resume", "--report", str(tmp_path / "cut.html")) == 0
    assert cut.read_bytes() == fresh.read_bytes()
    resumed = tmp_path / "resumed.csv"  # resumed without a report: read back all the same
    resumed.write_bytes(partial_output)
    state_path(resumed).write_text(json.dumps(state))
    assert score(source, resumed, *args, "--resume") == 0 and resumed.read_bytes() == fresh.read_bytes()
    assert (tmp_path / "cut.html").read_bytes() == (tmp_path / "fresh.html").read_bytes()


def test_the_report_is_the_same_bytes_for_the_same_input(tmp_path: Path) -> None:
    source = head(800, tmp_path)
    pages = []
    for name in ("a", "b"):
        report = tmp_path / f"{name}.html"
        assert (
            score(source, tmp_path / f"{name}.csv", *PLAN, "--budget", "50", "--explain", "3", "--report", str(report))
            == 0
        )
        pages.append(report.read_bytes())
    assert pages[0] == pages[1]
    text = pages[0].decode()
    assert text.count("<svg") == 3 and "<script" not in text
    # Nothing to fetch: no source or link outside the page, no url() or @import in its style.
    assert re.findall(r'(?:src|href)="(?!#)([^"]*)"', text) == [] and re.findall(r"url\((?!#)", text) == []
    assert "@import" not in text
    assert re.findall(r"<h2[^>]*>([^<]+)</h2>", text) == ["Scores", "Reasons", "Segments"]


MESSY = (
    "\ufeffcustomerID,Contract,InternetService,MonthlyCharges,tenure\n"
    "a,Month-to-month,Fiber optic,70.35,1\n"
    "b, two year ,DSL, 20.05 ,5\n"
    "\n"
    "c,One_Year,No,,3\n"
    "d,weekly,none,abc,3\n"
    "e,MONTH-TO-MONTH,fiber optic,1e2,3\n"
)


def test_arrow_and_read_rows_read_the_same_facts(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(MESSY)
    fast, slow = arrow_facts(source), python_facts(source)
    assert fast is not None and len(fast) == len(slow) == 5
    assert np.array_equal(fast.monthly_charges, slow.monthly_charges, equal_nan=True)
    assert fast.contract.tolist() == slow.contract.tolist()
    assert fast.internet_service.tolist() == slow.internet_service.tolist()
    assert slow.contract.tolist()[:3] == ["month-to-month", "two_year", "one_year"]
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(MESSY.replace("a,Month-to-month", '"a",Month-to-month'))
    assert arrow_facts(quoted) is None  # a quote: read_rows reads it


def test_the_plan_columns_are_the_same_bytes_whichever_way_the_output_is_rewritten(tmp_path: Path) -> None:
    """A plain output is rewritten by Arrow kernels, one with a quoted cell by csv.reader and csv.writer."""
    source = head(300, tmp_path)
    out = tmp_path / "out.csv"
    assert score(source, out, "--explain", "2") == 0
    scores = read_scores(out)
    values = np.linspace(-50, 50, len(scores))
    values[7] = np.nan  # as a rejected row
    selected = values > 30
    fast, slow = tmp_path / "fast.csv", tmp_path / "slow.csv"
    fast.write_bytes(out.read_bytes())
    write_plan_columns(fast, scores, values, selected)
    header = ",".join((*OUTPUT_COLUMNS, *PLAN_COLUMNS))
    python_lines(out, slow, header, plan_cells(values, selected))
    assert fast.read_bytes() == slow.read_bytes()
    rows = read(fast)
    assert [r["contact"] for r in rows[6:9]] == ["false", "", "false"] and rows[-1]["contact"] == "true"
    # Planned again (the plan columns replaced), and without a plan (removed), both ways alike.
    again = read_scores(fast)
    assert again.columns[-2:] == PLAN_COLUMNS
    write_plan_columns(fast, again, None, selected)
    assert fast.read_bytes() == out.read_bytes()
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(out.read_text().replace("\n7590-VHVEG,", '\n"7590,VHVEG",', 1))
    assert not plain(quoted)
    write_plan_columns(quoted, read_scores(quoted), values, selected)
    assert quoted.read_text().replace('"7590,VHVEG"', "7590-VHVEG") == slow.read_text()


def test_a_report_without_matplotlib_stops_before_scoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    out = tmp_path / "out.csv"
    assert score(head(5, tmp_path), out, "--report", str(tmp_path / "r.html")) == 2
    assert "--report needs matplotlib" in capsys.readouterr().err and not out.exists()


QUOTING_IDS = ["a,b", 'say "hi"', "line\nbreak", "bare\rreturn", "crlf\r\nend", "=cmd", " lead", "plain", "\u00e9\r"]


def test_a_plan_keeps_every_quoted_cell_as_the_plain_output_writes_it(tmp_path: Path) -> None:
    """A cell that needs quotes (a comma, a quote, a line end of any kind) reads back the same from the
    planned output as from the output without a plan; only the plan's two cells are added."""
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(make_customer(customerid=i)) + "\n" for i in QUOTING_IDS))
    plain_out, planned_out = tmp_path / "plain.csv", tmp_path / "planned.csv"
    assert score(source, plain_out) == 0
    assert score(source, planned_out, *PLAN) == 0
    without, with_plan = read(plain_out), read(planned_out)
    assert [{c: r[c] for c in OUTPUT_COLUMNS} for r in with_plan] == without
    assert [r["customerid"] for r in without] == [i if i[0] != "=" else "'" + i for i in QUOTING_IDS]
