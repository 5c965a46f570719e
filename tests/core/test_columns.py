"""The batch's quick verdict that every row is plainly clean is the verdict of looking at every key."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from churn.core import features
from churn.core.columns import exact_columns

FIELDS = features.FIELDS
OTHER_KEYS = st.sampled_from(["churn", "MonthlyCharges", "contract ", "customerID", "", "x" * 30])


@st.composite
def row(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.lists(st.integers(), max_size=2)))
    keys = set(FIELDS) - set(draw(st.lists(st.sampled_from(FIELDS), max_size=2)))  # perhaps a field missing
    keys |= {features.ID_FIELD} if draw(st.booleans()) else set()
    keys |= set(draw(st.lists(OTHER_KEYS, max_size=2)))  # perhaps a key the model does not know
    return {k: draw(st.one_of(st.none(), st.integers(), st.text(max_size=2))) for k in sorted(keys)}


@given(st.lists(row(), max_size=6) | st.lists(st.just({f: 1 for f in FIELDS}), max_size=3))
def test_exact_columns_answers_only_for_rows_of_exactly_the_models_names(rows: list[Any]) -> None:
    exact = all(
        type(r) is dict and set(r) in (set(FIELDS), {*FIELDS, features.ID_FIELD}) for r in rows
    )  # the verdict key by key
    table = exact_columns(rows, FIELDS)
    assert (table is not None) == exact
    if table is not None:
        assert table == {f: [r[f] for r in rows] for f in FIELDS}
