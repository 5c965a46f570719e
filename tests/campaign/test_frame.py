"""ChurnClient against the real app over HTTP: a DataFrame of whatever pandas holds (numpy scalars, NaN,
None, pd.NA, CRM column names, any index) gets, row for row, what the scoring path says of the same rows."""

from __future__ import annotations

import datetime
import decimal
import math
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.serving import make_server

from churn import ChurnClient
from churn.campaign.client import RequestRefused
from churn.campaign.frame import json_value
from churn.config import Settings
from churn.core import jsonkeys
from churn.core.model import LoadedModel
from churn.core.service import ChurnService
from churn.server.app import create_app
from tests.conftest import DATA_PATH, make_customer

KEY = "frame-key-0123456789abcdef"


@pytest.fixture(scope="module")
def served(model: LoadedModel) -> Iterator[tuple[str, ChurnService]]:
    app = create_app(Settings(api_keys=(KEY,), max_batch=5), model)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app.extensions["churn"]
    server.shutdown()
    thread.join(timeout=10)


def test_a_dataframe_as_pandas_reads_the_export_scores_row_for_row(served: tuple[str, ChurnService]) -> None:
    url, service = served
    df = pd.read_csv(DATA_PATH, nrows=12)
    df["TotalCharges"] = pd.to_numeric(df["TotalCharges"], errors="coerce")  # the book's preprocessing
    df.loc[2, "TotalCharges"] = np.nan  # a new customer, as a blank is in training
    df.loc[3, "gender"] = None  # a missing category: refused for this row
    df["tenure"] = df["tenure"].astype("Int64")  # pandas' nullable integers, with pd.NA
    df.loc[4, "tenure"] = pd.NA
    df["SeniorCitizen"] = df["SeniorCitizen"].astype(np.int8)
    df.index = [f"c{i}" for i in range(len(df))]
    scored = ChurnClient(url, api_key=KEY, batch_size=5).predict(df)  # three requests, the server's limit each
    assert list(scored.index) == list(df.index)
    records = [{k: json_value(v) for k, v in row.items()} for row in df.to_dict("records")]
    want = service.score_rows(records)["predictions"]
    for (_, got), p in zip(scored.iterrows(), want, strict=True):
        if "error" in p:
            assert got["error_code"] == p["error"]["code"] and math.isnan(got["churn_probability"])
        else:
            assert (got["churn_probability"], got["churn"]) == (p["churn_probability"], p["churn"])
            assert pd.isna(got["error_code"])
    assert list(scored.loc[["c3", "c4"], "error_code"]) == ["validation_failed"] * 2
    blank = service.score_rows([{**records[2], "TotalCharges": ""}])["predictions"][0]
    assert scored.loc["c2", "churn_probability"] == blank["churn_probability"]


def test_records_score_too_with_a_plain_index(served: tuple[str, ChurnService]) -> None:
    url, service = served
    rows = [make_customer(), make_customer(tenure=np.float32(3.5), seniorcitizen=np.bool_(True)), {"tenure": 1}]
    scored = ChurnClient(url, api_key=KEY).predict(rows)
    assert list(scored.index) == [0, 1, 2] and str(scored["churn"].dtype) == "boolean"
    reference = service.score_rows([make_customer()])["predictions"][0]
    assert scored.loc[0, "churn_probability"] == reference["churn_probability"]
    assert pd.isna(scored.loc[2, "churn"]) and scored.loc[2, "error_code"] == "validation_failed"


def test_a_refused_request_raises_with_the_services_code(served: tuple[str, ChurnService]) -> None:
    url, _ = served
    with pytest.raises(RequestRefused) as refused:
        ChurnClient(url, api_key="wrong-key-0123456789abcdef").predict([make_customer()])
    assert refused.value.code == "unauthorized"
    with pytest.raises(ValueError, match="batch_size"):
        ChurnClient(url, batch_size=0)


CELLS = (
    st.none()
    | st.floats()
    | st.integers()
    | st.integers(-(2**63), 2**63 - 1).map(np.int64)
    | st.floats(width=32).map(np.float32)
    | st.floats().map(np.float64)
    | st.booleans().map(np.bool_)
    | st.sampled_from([pd.NA, pd.NaT, np.nan, -np.inf, 10**400, -(10**5000)])
    | st.text(max_size=5)
)


@given(CELLS)
def test_every_cell_is_sent_as_the_value_it_holds(value: Any) -> None:
    cell = json_value(value)
    if value is None or value is pd.NA or value is pd.NaT:
        assert cell is None  # no JSON literal: null, a missing value as NaN is
        return
    sent = jsonkeys.loads(jsonkeys.dumps(cell))  # what the service reads of it
    if isinstance(value, float | np.floating) and np.isnan(value):
        assert isinstance(sent, float) and math.isnan(sent)
    elif type(value) is int and not -(2**63) <= value < 2**64:  # as the service reads the digits
        assert sent == nearest_double(value)
    else:
        assert sent == value and type(sent) is type(value.item() if hasattr(value, "item") else value)


def nearest_double(number: int) -> float:
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def test_infinity_and_nan_are_judged_as_in_any_json_body(served: tuple[str, ChurnService]) -> None:
    url, service = served
    cells = [math.inf, -math.inf, np.float64(np.inf), math.nan, 10**400, 10**5000, -(10**5000)]
    records = [make_customer(tenure=cell) for cell in cells] + [make_customer(totalcharges=math.nan)]
    records += [make_customer(customerid=10**5000), make_customer(extra=10**5000)]
    scored = ChurnClient(url, api_key=KEY, batch_size=5).predict(records)
    texts = ["Infinity", "-Infinity", "Infinity", "NaN", "1" + "0" * 400, "1" + "0" * 5000, "-1" + "0" * 5000]
    bodies = [f'{{"tenure": {t}}}' for t in texts] + ['{"totalcharges": NaN}', f'{{"customerid": 1{"0" * 5000}}}']
    bodies += [f'{{"extra": 1{"0" * 5000}}}']
    rows = [{**make_customer(), **jsonkeys.loads(b.encode())} for b in bodies]
    want = service.score_rows(rows)["predictions"]
    assert list(scored["error_message"].fillna("")) == [p.get("error", {}).get("message", "") for p in want]
    codes = [d["code"] for p in want if "error" in p for d in p["error"]["details"]]
    assert codes == ["not_finite"] * 3 + ["missing_field"] + ["not_finite"] * 3 + ["out_of_range"]
    assert scored.loc[7, "churn_probability"] == want[7]["churn_probability"]  # NaN totalcharges: a new customer
    assert scored.loc[9, "churn_probability"] == want[9]["churn_probability"]  # an ignored column


def test_decimals_and_dates_are_sent_as_the_values_they_hold(served: tuple[str, ChurnService]) -> None:
    url, service = served
    when = [datetime.date(2024, 1, 31), pd.Timestamp("2024-01-31 12:00"), datetime.time(9, 30)]
    records = [make_customer(monthlycharges=decimal.Decimal("79.85"), signup=cell) for cell in when]
    records.append(make_customer(contract=datetime.date(2024, 1, 31)))
    scored = ChurnClient(url, api_key=KEY).predict(records)
    reference = service.score_rows([make_customer(monthlycharges=79.85)])["predictions"][0]
    assert list(scored["churn_probability"][:3]) == [reference["churn_probability"]] * 3  # a column not used
    assert scored.loc[3, "error_message"] == "customer failed validation (unknown_category: contract)"


def test_a_row_json_cannot_hold_gets_its_own_error(served: tuple[str, ChurnService]) -> None:
    url, service = served
    cells = [object(), "\ud800", np.array([1, 2]), {1, 2}]
    records = [make_customer(customerid=f"c{i}", signup=cell) for i, cell in enumerate(cells)]
    records.insert(2, make_customer(customerid="fine"))
    scored = ChurnClient(url, api_key=KEY, batch_size=3).predict(records)
    assert list(scored["error_code"].fillna("")) == ["invalid_json", "invalid_json", "", "invalid_json", "invalid_json"]
    assert all("(field signup)" in m for m in scored["error_message"].dropna())
    fine = service.score_rows([make_customer()])["predictions"][0]
    assert scored.loc[2, "churn_probability"] == fine["churn_probability"]
