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
from dataclasses import dataclass
from decimal import Decimal

import numpy as np


class PlanError(ValueError):
    """An option value no plan can use; the message names the option."""


@dataclass(frozen=True)
class PlanOptions:
    contact_cost: Decimal
    retention_rate: float
    horizon_months: int
    budget: int | None = None  # contacts
    budget_amount: Decimal | None = None  # money, in contact_cost's currency

    def __post_init__(self) -> None:
        if not (self.contact_cost.is_finite() and self.contact_cost >= 0):
            raise PlanError(f"--contact-cost must be a finite amount of 0 or more, not {self.contact_cost}")
        if not 0 <= self.retention_rate <= 1:  # also refuses NaN
            raise PlanError(f"--retention-rate is a share from 0 to 1, not {self.retention_rate}")
        if self.horizon_months < 1:
            raise PlanError(f"--horizon-months must be a whole number of months, 1 or more, not {self.horizon_months}")
        if self.budget is not None and self.budget < 1:
            raise PlanError(f"--budget is a number of contacts, 1 or more, not {self.budget}")
        if self.budget_amount is not None and not (self.budget_amount.is_finite() and self.budget_amount > 0):
            raise PlanError(f"--budget-amount must be a finite amount above 0, not {self.budget_amount}")

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
            budget.append(f"{self.budget_amount} to spend")
        return (
            f"contact cost {self.contact_cost}, retention rate {self.retention_rate:g}, "
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
