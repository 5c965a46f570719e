"""Drift bins counted column-wise (large batches) equal the row-by-row count, in the bins and in the window."""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.core.columns import CustomerColumns
from churn.core.drift import Bins, Window
from churn.core.model import LoadedModel
from churn.core.validation import CustomerValidator
from churn.server.metrics import COLUMN_WISE_ROWS, Metrics
from tests.conftest import DATA_PATH


def telco_customers(model: LoadedModel, rows: int) -> list[dict[str, Any]]:
    validator = CustomerValidator(model.contract())
    with DATA_PATH.open(newline="") as f:
        return [validator.validate(r)[0] for _, r in zip(range(rows), csv.DictReader(f), strict=False)]


def row_by_row(bins: Bins, customers: list[dict[str, Any]]) -> list[int]:
    counts = [0] * len(bins.bins)
    for customer in customers:
        for slot in bins.indexes(customer):
            counts[slot] += 1
    return counts


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_column_wise_counts_equal_row_by_row(model: LoadedModel, data: st.DataObject) -> None:
    customers = telco_customers(model, 400)
    picked = data.draw(st.lists(st.sampled_from(customers), min_size=1, max_size=80))
    # numbers exactly on a decile edge, and far outside, land where bisect_right puts them
    bins = Bins(model.metadata["training_distribution"], model.vocabulary)
    edges = [e for _, field_edges, _ in bins.numerical for e in field_edges]
    for original in picked[:5]:
        changed = {**original, "tenure": data.draw(st.sampled_from([*edges, 0.0, 1e9]))}
        picked.append(changed)
    fields = tuple(picked[0])
    columns = {f: [c[f] for c in picked] for f in fields}
    assert bins.counts(columns, len(picked)) == row_by_row(bins, picked)


def test_the_observer_window_is_the_same_for_columns_and_dicts(model: LoadedModel) -> None:
    customers = telco_customers(model, 3 * COLUMN_WISE_ROWS)
    fields = tuple(customers[0])
    as_columns = CustomerColumns(fields, [[c[f] for c in customers] for f in fields])
    probabilities = np.linspace(0.0, 1.0, len(customers))
    windows = []
    for batch in (customers, as_columns, customers[:3]):
        metrics = Metrics(model, 0.5)
        metrics.observer.observe(batch, probabilities[: len(batch)], ())
        windows.append(metrics.observer.window.totals())
    assert windows[0] == windows[1]
    bins = Bins(model.metadata["training_distribution"], model.vocabulary)
    assert windows[0][: len(bins.bins)] == row_by_row(bins, customers)
    assert windows[2][: len(bins.bins)] == row_by_row(bins, customers[:3])


def test_add_counts_moves_the_window_like_add() -> None:
    a, b = Window(size=3, chunk_rows=10, chunks=3), Window(size=3, chunk_rows=10, chunks=3)
    for slots, rows in (([0, 0, 2], 4), ([1], 7), ([2, 2], 12), ([0], 3)):
        a.add(slots, rows)
        b.add_counts([slots.count(i) for i in range(2)] + [slots.count(2)], rows)
        assert a.totals() == b.totals()


def test_one_customer_at_a_time_counts_as_a_batch_does(model: LoadedModel) -> None:
    """The single-customer path (POST /predict) leaves the window and counters the general path leaves."""
    customers = telco_customers(model, 25)
    probabilities = np.linspace(0.05, 0.95, len(customers))
    one, one_as_batch, batch = Metrics(model, 0.5), Metrics(model, 0.5), Metrics(model, 0.5)
    for customer, probability in zip(customers, probabilities, strict=True):
        one.observer.observe_one(customer, float(probability))
        one_as_batch.observer.observe((customer,), np.array((probability,)), ())
    batch.observer.observe(customers, probabilities, ())
    assert one.observer.window.totals() == one_as_batch.observer.window.totals() == batch.observer.window.totals()
    counts = [
        [m.registry.get_sample_value("churn_predictions_total", {"decision": d}) for d in ("churn", "no_churn")]
        for m in (one, one_as_batch, batch)
    ]
    assert counts[0] == counts[1] == counts[2] and sum(counts[0]) == len(customers) and all(counts[0])


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_a_scored_batch_counts_its_bins_as_row_by_row(model: LoadedModel, data: st.DataObject) -> None:
    """Through the service: a clean batch (its customers kept as columns) and a mixed one (some rows
    through the per-row validator) count the bins that the validated customers give one by one."""
    from churn.core.service import ChurnService  # noqa: PLC0415

    customers = telco_customers(model, 300)
    picked = data.draw(st.lists(st.sampled_from(customers), min_size=COLUMN_WISE_ROWS, max_size=3 * COLUMN_WISE_ROWS))
    if data.draw(st.booleans()):  # a raw CRM spelling: that row takes the per-row validator
        picked = [*picked, {**picked[0], "contract": "Month-to-month", "paymentmethod": "Electronic check"}]
    metrics = Metrics(model, 0.5)
    service = ChurnService(model, observer=metrics.observer)
    service.score_rows(picked)
    validator = CustomerValidator(model.contract())
    bins = Bins(model.metadata["training_distribution"], model.vocabulary)
    expected = row_by_row(bins, [validator.validate(c)[0] for c in picked])
    assert metrics.observer.window.totals()[: len(bins.bins)] == expected
