"""ChurnClient against the real app over HTTP: a DataFrame of whatever pandas holds (numpy scalars, NaN,
None, pd.NA, CRM column names, any index) gets, row for row, what the scoring path says of the same rows."""

from __future__ import annotations

import json
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
    | st.integers(-(2**63), 2**63 - 1).map(np.int64)
    | st.floats(width=32).map(np.float32)
    | st.floats().map(np.float64)
    | st.booleans().map(np.bool_)
    | st.sampled_from([pd.NA, pd.NaT, np.nan])
    | st.text(max_size=5)
)


@given(CELLS)
def test_every_cell_becomes_json_that_requests_can_send(value: Any) -> None:
    cell = json_value(value)
    json.dumps(cell, allow_nan=False)  # what requests does with json=
    if cell is None:
        assert value is None or pd.isna(value)
    elif isinstance(cell, str) and not isinstance(value, str):
        assert math.isinf(float(value)) and cell in ("inf", "-inf")
    else:
        assert cell == value
