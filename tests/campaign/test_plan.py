"""The plan's rules (churn.campaign.plan) over the whole option domain, and the cents text of its column."""

from __future__ import annotations

import math
import re
import tempfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from churn.campaign.arrowtext import cents_text
from churn.campaign.facts import arrow_facts, python_facts
from churn.campaign.output import plan_cells
from churn.campaign.plan import (
    AMOUNT_DECIMALS,
    AMOUNT_DIGITS,
    MAX_HORIZON_MONTHS,
    PlanError,
    PlanOptions,
    expected_values,
    figures,
    net_value_curve,
    parse_amount,
    ranking,
    select,
)

money = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
rates = st.floats(min_value=0, max_value=1)
months = st.integers(min_value=1, max_value=600)
budgets = st.none() | st.integers(min_value=1, max_value=10**9)
amounts = st.none() | st.decimals(min_value=Decimal("0.01"), max_value=10**9, places=2)


@st.composite
def plan_options(draw: st.DrawFn) -> PlanOptions:
    cost, amount = draw(money), draw(amounts)
    # A budget that buys no contact is refused (test_a_budget_that_buys_no_contact_is_refused): add a contact's worth.
    return PlanOptions(cost, draw(rates), draw(months), draw(budgets), None if amount is None else amount + cost)


plans = plan_options()
# Probabilities and monthly charges as the output and the input can hold them: any score, NaN for a
# rejected row, charges from 0 to far beyond training's range; many repeated values to make ties.
probability = st.one_of(st.floats(min_value=0, max_value=1), st.just(math.nan), st.sampled_from([0.0, 0.25, 0.5, 1.0]))
charge = st.one_of(st.floats(min_value=0, max_value=10**5), st.sampled_from([0.0, 20.0, 70.35, 118.75]))


@st.composite
def rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=0, max_value=60))
    p = draw(arrays(np.float64, n, elements=probability))
    m = draw(arrays(np.float64, n, elements=charge))
    m[np.isnan(p)] = np.nan  # a rejected row's facts are unknown too
    return p, m


@given(rows(), plans)
def test_the_selection_keeps_within_the_budget_and_contacts_only_positive_values(
    data: tuple[np.ndarray, np.ndarray], plan: PlanOptions
) -> None:
    p, m = data
    values = expected_values(p, m, plan)
    selected = select(values, plan)
    limit = plan.max_contacts()
    assert limit is None or selected.sum() <= limit
    assert (values[selected] > 0).all()
    assert not selected[np.isnan(p)].any()
    # The best ones: no customer left out is worth more than one selected, and none worth contacting is
    # left out while the budget has room.
    left = ~selected & (values > 0)
    if selected.any() and left.any():
        assert values[left].max() <= values[selected].min()
    if limit is None or selected.sum() < limit:
        assert not left.any()


@given(rows(), plans, st.integers(min_value=1, max_value=80))
def test_the_selection_grows_with_the_budget(data: tuple[np.ndarray, np.ndarray], plan: PlanOptions, k: int) -> None:
    p, m = data
    values = expected_values(p, m, plan)
    smaller = select(values, PlanOptions(plan.contact_cost, plan.retention_rate, plan.horizon_months, k))
    larger = select(values, PlanOptions(plan.contact_cost, plan.retention_rate, plan.horizon_months, k + 1))
    assert not (smaller & ~larger).any()
    assert larger.sum() - smaller.sum() in (0, 1)


@given(rows(), plans)
def test_ties_go_to_the_earlier_row_and_the_selection_is_deterministic(
    data: tuple[np.ndarray, np.ndarray], plan: PlanOptions
) -> None:
    p, m = data
    values = expected_values(p, m, plan)
    order = ranking(values)
    pairs = list(zip((-values[order]).tolist(), order.tolist(), strict=True))
    assert pairs == sorted(pairs)  # best first, then input order
    assert (select(values, plan) == select(values.copy(), plan)).all()


@given(rows(), st.integers(min_value=0, max_value=90))
def test_the_first_of_the_ranking_are_the_whole_rankings_first(data: tuple[np.ndarray, np.ndarray], first: int) -> None:
    p, m = data
    values = expected_values(p, m, PlanOptions(Decimal("1"), 0.5, 12))
    assert ranking(values, first).tolist() == ranking(values)[:first].tolist()


@given(rows(), plans)
def test_the_expected_value_is_the_formula_row_by_row(data: tuple[np.ndarray, np.ndarray], plan: PlanOptions) -> None:
    p, m = data
    values = expected_values(p, m, plan)
    for got, pi, mi in zip(values.tolist(), p.tolist(), m.tolist(), strict=True):
        want = pi * plan.retention_rate * (mi * plan.horizon_months) - float(plan.contact_cost)
        assert got == want or (math.isnan(got) and math.isnan(want))


@given(rows(), plans)
def test_the_figures_are_sums_over_the_selected_rows(data: tuple[np.ndarray, np.ndarray], plan: PlanOptions) -> None:
    p, m = data
    values = expected_values(p, m, plan)
    selected = select(values, plan)
    found = figures(p, m, selected, plan)
    assert found.contacts == selected.sum()
    assert found.expected_churners == pytest.approx(math.fsum(p[selected].tolist()))
    assert found.cost == pytest.approx(found.contacts * float(plan.contact_cost))
    assert found.net_value == pytest.approx(math.fsum(values[selected].tolist()), rel=1e-9, abs=1e-6)
    assert found.revenue_kept - found.cost == pytest.approx(found.net_value)
    curve = net_value_curve(values)
    assert curve[found.contacts] == pytest.approx(found.net_value, rel=1e-9, abs=1e-6)
    assert found.net_value == pytest.approx(curve.max(), rel=1e-9, abs=1e-6) or plan.max_contacts() is not None


def test_an_amount_buys_whole_contacts_counted_in_decimal() -> None:
    plan = PlanOptions(Decimal("0.10"), 0.5, 12, budget_amount=Decimal("0.30"))
    assert plan.max_contacts() == 3  # 0.30 / 0.10 in binary floating point is 2.999...
    assert PlanOptions(Decimal("7"), 0.5, 12, budget=2, budget_amount=Decimal("100")).max_contacts() == 2
    assert PlanOptions(Decimal("0"), 0.5, 12, budget_amount=Decimal("100")).max_contacts() is None


BAD = [
    {"contact_cost": Decimal("-1")},
    {"contact_cost": Decimal("NaN")},
    {"contact_cost": Decimal("Infinity")},
    {"retention_rate": 1.01},
    {"retention_rate": -0.1},
    {"retention_rate": math.nan},
    {"horizon_months": 0},
    {"horizon_months": -3},
    {"horizon_months": MAX_HORIZON_MONTHS + 1},
    {"contact_cost": Decimal("1E+400")},
    {"contact_cost": Decimal(10**AMOUNT_DIGITS)},
    {"contact_cost": Decimal("0.0000001")},
    {"budget_amount": Decimal("99999999999999999999999999999999")},
    {"budget_amount": Decimal("1E+400")},
    {"budget_amount": Decimal("1234567890.1234567")},
    {"budget": 0},
    {"budget": -5},
    {"budget_amount": Decimal("0")},
    {"budget_amount": Decimal("-10")},
    {"budget_amount": Decimal("Infinity")},
]


@pytest.mark.parametrize("bad", BAD, ids=[f"{k}={v}" for b in BAD for k, v in b.items()])
def test_option_values_no_plan_can_use_are_refused_by_name(bad: dict[str, object]) -> None:
    good: dict[str, object] = {"contact_cost": Decimal("5"), "retention_rate": 0.3, "horizon_months": 12}
    with pytest.raises(PlanError) as e:
        PlanOptions(**{**good, **bad})  # type: ignore[arg-type]
    assert "--" + next(iter(bad)).replace("_", "-") in str(e.value)


def test_a_budget_that_buys_no_contact_is_refused_as_a_budget_of_0_is() -> None:
    with pytest.raises(PlanError, match=re.escape("--budget-amount 9.99 buys no contact at --contact-cost 10.00")):
        PlanOptions(Decimal("10.00"), 0.3, 12, budget_amount=Decimal("9.99"))
    assert PlanOptions(Decimal("10.00"), 0.3, 12, budget_amount=Decimal("10")).max_contacts() == 1


# Amounts as large and as fine as the rule allows: every digit counts, none is lost.
@st.composite
def amounts_within_the_rule(draw: st.DrawFn) -> Decimal:
    decimals = draw(st.integers(0, AMOUNT_DECIMALS))
    units = draw(st.integers(0, 10**AMOUNT_DIGITS - 1))
    return Decimal(units).scaleb(-decimals)


@settings(max_examples=300, deadline=None)
@given(amounts_within_the_rule(), amounts_within_the_rule())
def test_every_amount_the_rule_allows_is_exact_and_counts_whole_contacts(cost: Decimal, budget: Decimal) -> None:
    assert Decimal(f"{float(cost):.{AMOUNT_DIGITS}g}") == cost  # the float the plan computes with is the amount
    if cost == 0 or budget < cost:
        return
    plan = PlanOptions(cost, 0.5, MAX_HORIZON_MONTHS, budget_amount=budget)
    assert plan.max_contacts() == Fraction(budget) // Fraction(cost)  # Decimal's // has digits to spare
    assert math.isfinite(plan.max_contacts() * float(cost))


# The class of texts that are no plain decimal amount: exponents, infinities and NaNs, signs, spaces,
# separators, currency signs, digits of other scripts, and nothing at all.
NOT_PLAIN = ["1e3", "1E+3", "2.5e-1", "1e400", "inf", "Infinity", "-inf", "nan", "NaN", "sNaN", "+5", "-5", "-0",
             "-0.01", " 5", "5 ", "1 000", "1,000", "1_000", "2.50.1", ".", "", "€5", "5$", "0x10",
             "\u0661\u0660", "\uff15", "\u0967\u0966.\u0966"]  # fmt: skip
ACCEPTED = {"5": "5", "5.": "5", ".5": "0.5", "2.50": "2.50", "0": "0", "000123.40": "123.40"}


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_texts_that_are_no_plain_decimal_amount_are_refused(text: str) -> None:
    with pytest.raises(PlanError, match="is not a plain decimal amount"):
        parse_amount(text)


@pytest.mark.parametrize(("text", "value"), ACCEPTED.items())
def test_plain_decimal_amounts_are_read_as_typed(text: str, value: str) -> None:
    assert str(parse_amount(text)) == value


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.from_regex(r"\A[0-9.eE+-]{1,8}\Z"))
def test_an_accepted_amount_text_is_digits_and_a_point_and_its_value_is_finite(text: str) -> None:
    try:
        value = parse_amount(text)
    except PlanError:
        return
    assert set(text) <= set("0123456789.") and text.count(".") <= 1
    assert value.is_finite() and value >= 0


@settings(max_examples=300)
@given(arrays(np.float64, st.integers(0, 50), elements=st.floats(allow_nan=True, allow_infinity=True)))
def test_the_cents_text_is_pythons(values: np.ndarray) -> None:
    assert cents_text(values).to_pylist() == [f"{v:.2f}" for v in values.tolist()]


def test_the_cents_text_near_ties() -> None:
    values = np.array([0.005, 0.015, 2.675, 1.005, -1.005, -0.004, -0.0, 999999.995, 1e6, 123.45499999999])
    assert cents_text(values).to_pylist() == [f"{v:.2f}" for v in values.tolist()]


# Values the plan's column holds (expected values: mostly small, negative as often as not) and those
# where a shortcut could differ from Python: negative zero and values that round to it, ties at half a
# cent either side of zero, the fast path's limit, huge, tiny and non-finite values.
EDGES = [
    -0.0, 0.0, -0.004, -0.005, -0.0050001, -0.00499, 0.005, -0.995, -0.994999, -0.999, -1.0, -1.005, -2.675,
    -10.0, -9.995, 999999.994, 999999.995, -999999.995, 1e6, -1e6, 1e15, -1e15, 1e300, -1e300, 5e-324, -5e-324,
    math.nan, -math.nan, math.inf, -math.inf,
]  # fmt: skip
cents = st.integers(-(10**8), 10**8).map(lambda c: c / 100)
half_cents = st.integers(-(10**8), 10**8).map(lambda c: c / 100 + 0.005)


@settings(max_examples=300)
@given(
    st.lists(
        st.one_of(st.floats(-2e6, 2e6), st.floats(-1, 1), cents, half_cents, st.sampled_from(EDGES), st.floats()),
        max_size=60,
    )
)
def test_the_cents_text_is_pythons_for_negative_tied_and_huge_values(values: list[float]) -> None:
    array = np.array(values, dtype=np.float64)
    assert cents_text(array).to_pylist() == [f"{v:.2f}" for v in array.tolist()]


@settings(max_examples=200)
@given(st.lists(st.tuples(st.one_of(st.floats(-1e7, 1e7), st.sampled_from(EDGES)), st.booleans()), max_size=60))
def test_the_plan_cells_are_the_value_and_the_contact_or_nothing(rows: list[tuple[float, bool]]) -> None:
    values = np.array([v for v, _ in rows], dtype=np.float64)
    selected = np.array([s for _, s in rows], dtype=bool)
    want = ["," if math.isnan(v) else f"{v:.2f},{'true' if s else 'false'}" for v, s in rows]
    assert plan_cells(values, selected).to_pylist() == want


def test_the_cents_text_of_many_values_is_pythons() -> None:
    """Blocks as large as a run's, where every branch is taken at once."""
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.normal(-5, 40, 50_000), rng.uniform(-1, 1, 20_000), np.array(EDGES)])
    values[::97] = np.round(values[::97], 2) + 0.005
    rng.shuffle(values)
    assert cents_text(values).to_pylist() == [f"{v:.2f}" for v in values.tolist()]


# Cells as an export may hold them: numbers in any spelling, categories in any case and spacing, blanks,
# text that is neither, non-ASCII; no quote, comma or line end (such a file is read_rows' alone).
cell_text = st.text(alphabet=st.sampled_from(list("0123456789.-+eE _abcMTOYwo-é\t")), max_size=12)
cells = st.one_of(cell_text, st.sampled_from(["29.85", " 70.35 ", "", "Month-to-month", "two year", "Fiber optic"]))


@settings(max_examples=150, deadline=None)
@given(
    st.permutations(["customerID", "Contract", "InternetService", "MonthlyCharges", "tenure"]),
    st.lists(st.lists(cells, min_size=5, max_size=5), max_size=25),
    st.booleans(),
)
def test_arrow_reads_the_facts_read_rows_reads(header: list[str], rows: list[list[str]], crlf: bool) -> None:
    end = "\r\n" if crlf else "\n"
    text = ",".join(header) + end + "".join(",".join(r) + end for r in rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_bytes(text.encode())
        fast, slow = arrow_facts(path), python_facts(path)
    if fast is None:  # Arrow declined (a row it would read otherwise): read_rows is used, nothing to compare
        return
    assert len(fast) == len(slow)
    assert np.array_equal(fast.monthly_charges, slow.monthly_charges, equal_nan=True)
    assert fast.contract.tolist() == slow.contract.tolist()
    assert fast.internet_service.tolist() == slow.internet_service.tolist()
