"""A campaign plan within a budget: whom to contact, and what it is worth. The rules only: no I/O.

The expected value of contacting a customer is

    p(churn) x retention_rate x customer_value - contact_cost,   customer_value = monthlycharges x horizon_months

(a contacted churner stays with probability retention_rate and keeps paying for the horizon; a contact
costs the same whoever answers). Customers are ranked by it, highest first, ties in input order; the plan
contacts the best ones while the budget lasts, and never one whose expected value is not positive. A
budget is a number of contacts, an amount of money (whole contacts of contact_cost each), both (the
tighter applies) or neither (every customer worth contacting). Rows that were not scored have no value
(NaN) and are never contacted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

# Amounts of money are plain decimals: digits, at most one point (no sign, exponent, space, separator).
PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
# 15 digits are what a float holds exactly (DBL_DIG), so the plan's float arithmetic sees the amount as
# typed; with at most 6 of them decimals, budget // cost stays below 10^21, inside Decimal's 28 digits.
AMOUNT_DIGITS, AMOUNT_DECIMALS = 15, 6
# A century: no customer's value is counted further ahead (and monthly charges x horizon stay small).
MAX_HORIZON_MONTHS = 1200


class PlanError(ValueError):
    """An option value no plan can use; the message names the option."""


def parse_amount(text: str) -> Decimal:
    """An amount as the command line gives it; PlanOptions checks its size."""
    if not PLAIN_DECIMAL.fullmatch(text):
        raise PlanError(
            f"{text!r} is not a plain decimal amount such as 2000 or 2.50 "
            "(digits and a decimal point only: no sign, exponent, space or separator)"
        )
    return Decimal(text)


def parse_share(text: str) -> float:
    """A share as the command line gives it, written as an amount is (PlanOptions checks it is 0 to 1)."""
    if not PLAIN_DECIMAL.fullmatch(text):
        raise PlanError(f"{text!r} is not a plain decimal share such as 0.3 (digits and a decimal point only)")
    return float(text)


def amount_problem(value: Decimal) -> str | None:
    """Why no plan can use this amount, whatever its sign (None: it can); zeros ending the decimals do not count."""
    if not value.is_finite():
        return "is not a finite amount"
    _, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - finite, checked above
    decimals = max(0, -exponent)
    if decimals > AMOUNT_DECIMALS:
        return f"has {decimals} digits after the point: at most {AMOUNT_DECIMALS}"
    if (length := max(0, len(digits) + exponent) + decimals) > AMOUNT_DIGITS:
        return f"has {length} digits: at most {AMOUNT_DIGITS}"
    return None


def shown(value: Decimal) -> str:
    """An amount in plain notation, never in str()'s exponent form (0E-7 for 0.0000000)."""
    return f"{value:f}"


@dataclass(frozen=True)
class PlanOptions:
    contact_cost: Decimal
    retention_rate: float
    horizon_months: int
    budget: int | None = None  # contacts
    budget_amount: Decimal | None = None  # money, in contact_cost's currency

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise PlanError(problem)

    def problem(self) -> str | None:
        """What no plan can use, naming the option (None: the plan can be made)."""
        return self.economics_problem() or self.budget_problem()

    def economics_problem(self) -> str | None:
        if (trouble := amount_problem(self.contact_cost)) is not None:
            return f"--contact-cost {shown(self.contact_cost)} {trouble}"
        if self.contact_cost < 0:
            return f"--contact-cost must be an amount of 0 or more, not {shown(self.contact_cost)}"
        if not 0 <= self.retention_rate <= 1:  # also refuses NaN
            return f"--retention-rate is a share from 0 to 1, not {self.retention_rate}"
        if not 1 <= self.horizon_months <= MAX_HORIZON_MONTHS:
            return f"--horizon-months is a number of months from 1 to {MAX_HORIZON_MONTHS}, not {self.horizon_months}"
        return None

    def budget_problem(self) -> str | None:
        amount = self.budget_amount
        if self.budget is not None and self.budget < 1:
            return f"--budget is a number of contacts, 1 or more, not {self.budget}"
        if amount is None:
            return None
        if (trouble := amount_problem(amount)) is not None:
            return f"--budget-amount {shown(amount)} {trouble}"
        if amount <= 0:
            return f"--budget-amount must be an amount above 0, not {shown(amount)}"
        if self.max_contacts() == 0:  # as refused as a --budget of 0
            return f"--budget-amount {shown(amount)} buys no contact at --contact-cost {shown(self.contact_cost)}"
        return None

    def max_contacts(self) -> int | None:
        """How many contacts the budget pays for (None: no limit). Money is counted in Decimal, so
        0.30 buys three contacts of 0.10, as a person would count."""
        limits = [] if self.budget is None else [self.budget]
        if self.budget_amount is not None and self.contact_cost > 0:
            limits.append(int(self.budget_amount // self.contact_cost))
        return min(limits) if limits else None

    def describe(self) -> str:
        budget = []
        if self.budget is not None:
            budget.append(f"{self.budget} contacts")
        if self.budget_amount is not None:
            budget.append(f"{shown(self.budget_amount)} to spend")
        return (
            f"contact cost {shown(self.contact_cost)}, retention rate {self.retention_rate:g}, "
            f"horizon {self.horizon_months} months, budget {' and '.join(budget) or 'unlimited'}"
        )


def customer_values(monthly_charges: np.ndarray, options: PlanOptions) -> np.ndarray:
    """What a customer who stays brings in over the horizon."""
    values: np.ndarray = monthly_charges * float(options.horizon_months)
    return values


def expected_values(probabilities: np.ndarray, monthly_charges: np.ndarray, options: PlanOptions) -> np.ndarray:
    """The expected value of contacting each customer (NaN where either input is NaN: not scored)."""
    kept: np.ndarray = probabilities * options.retention_rate * customer_values(monthly_charges, options)
    return kept - float(options.contact_cost)


def ranking(values: np.ndarray, first: int | None = None) -> np.ndarray:
    """The rows worth contacting (expected value > 0), best first, earlier rows first among equals;
    with `first`, only the first that many of them."""
    worth = np.flatnonzero(values > 0)  # NaN compares False: rows not scored are never ranked
    if first is not None and first < len(worth):
        # Only the rows at least as good as the first-th best can be among the first: sort those
        # (with every tie of that value, in input order, so the stable sort still decides among them).
        kth = np.partition(values[worth], len(worth) - first)[len(worth) - first] if first else np.inf
        worth = worth[values[worth] >= kth]
    order: np.ndarray = worth[np.argsort(-values[worth], kind="stable")][:first]
    return order


def select(values: np.ndarray, options: PlanOptions) -> np.ndarray:
    """Which rows to contact: the best-ranked ones the budget pays for."""
    chosen = ranking(values, options.max_contacts())
    selected = np.zeros(len(values), dtype=bool)
    selected[chosen] = True
    return selected


@dataclass(frozen=True)
class PlanFigures:
    """What a plan is expected to achieve, summed over the selected rows."""

    contacts: int
    expected_churners: float  # sum of p(churn): churners reached
    revenue_kept: float  # sum of p x retention_rate x customer value
    cost: float  # contacts x contact_cost
    net_value: float  # revenue_kept - cost: the sum of the selected rows' expected values

    def lines(self, options: PlanOptions, scored: int) -> list[str]:
        return [
            f"plan: {options.describe()}",
            f"contact {self.contacts} of {scored} scored  expected churners reached {self.expected_churners:,.1f}  "
            f"expected revenue kept {self.revenue_kept:,.2f}  cost {self.cost:,.2f}  net value {self.net_value:,.2f}",
        ]


def figures(
    probabilities: np.ndarray, monthly_charges: np.ndarray, selected: np.ndarray, options: PlanOptions
) -> PlanFigures:
    p = probabilities[selected]
    kept = p * options.retention_rate * customer_values(monthly_charges[selected], options)
    contacts = int(selected.sum())
    cost = contacts * float(options.contact_cost)
    revenue = math.fsum(kept.tolist())
    return PlanFigures(contacts, math.fsum(p.tolist()), revenue, cost, revenue - cost)


def net_value_curve(values: np.ndarray) -> np.ndarray:
    """The plan's net value after contacting the best k customers, for k = 0 .. every scored row (the
    curve rises while customers are worth contacting, then falls: its top is the unlimited plan)."""
    scored = values[~np.isnan(values)]
    ordered = -np.sort(-scored, kind="stable")
    curve: np.ndarray = np.concatenate(([0.0], np.cumsum(ordered)))
    return curve
