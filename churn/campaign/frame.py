"""ChurnClient: score a pandas DataFrame (or records) through the service, for data scientists.

    from churn import ChurnClient
    scored = ChurnClient("http://localhost:9696", api_key=KEY).predict(df)

The rows go to POST /v1/predict in batches, through ServiceClient (timeouts, retries with backoff,
Retry-After). Cells are made JSON first: numpy and pandas scalars become Python numbers and booleans,
and a missing value without a JSON literal (None, pd.NA, NaT) becomes null. Numbers are sent as they
are (churn.core.jsonkeys.dumps): NaN and +-inf as the literals NaN and Infinity, integers as all their
digits, so the service judges each as it would the same value in any JSON body: NaN and null are 0 for
totalcharges (a new customer, as in training) and a per-row missing_field error for any other field,
an infinity is not_finite. JSON has no decimal or date: a Decimal is sent as the double the service
would read from its digits, a date or time (pd.Timestamp too) as its ISO 8601 text, as pandas' to_json
writes it. A row holding a cell JSON cannot hold at all (a set, an array, a lone surrogate) gets its
own invalid_json error. Column names may be the CRM export's ("customerID", "TotalCharges"); columns
the model does not use are ignored.

The answer is a DataFrame with the input's index, one row per input row: churn_probability, churn
and percentile for a scored row; error_code and error_message for a row the service refused (its
other cells missing). A refused request (a wrong key, a batch past the server's limit) raises
RequestRefused. pandas is imported when a DataFrame is made, so the service never needs it.
"""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from churn.campaign.client import ServiceClient, score_sendable

if TYPE_CHECKING:
    import pandas as pd

BATCH_SIZE = 1000  # rows per request: well under the service's default CHURN_MAX_BATCH
DOUBLE_MAX_BITS = 1024  # an integer of fewer bits has fewer than 309 digits, far below Python's limit
COLUMNS = ("churn_probability", "churn", "percentile", "error_code", "error_message")


class ChurnClient:
    """The churn service, called with DataFrames."""

    def __init__(
        self, url: str, *, api_key: str | None = None, batch_size: int = BATCH_SIZE, timeout: float = 60.0
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.service = ServiceClient(url, api_key=api_key, timeout=timeout)
        self.batch_size = batch_size

    def predict(self, data: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
        """One scored row per input row, in order, with the input's index (a DataFrame's, else 0..n-1)."""
        import pandas as pd  # noqa: PLC0415 - the client's dependency, not the service's

        if isinstance(data, pd.DataFrame):
            index = data.index
            records = [
                {str(k): v for k, v in zip(data.columns, row, strict=True)} for row in data.itertuples(index=False)
            ]
        else:
            records = [dict(r) for r in data]
            index = pd.RangeIndex(len(records))
        rows: list[dict[str, Any]] = []
        for start in range(0, len(records), self.batch_size):
            batch = [{k: json_value(v) for k, v in r.items()} for r in records[start : start + self.batch_size]]
            answer = score_sendable(self.post, batch)
            rows.extend(map(scored_row, answer["predictions"]))
        frame = pd.DataFrame(rows, columns=list(COLUMNS), index=index)
        frame["churn"] = frame["churn"].astype("boolean")
        return frame.astype({"churn_probability": "float64", "percentile": "float64"})

    def post(self, customers: list[dict[str, Any]]) -> dict[str, Any]:
        answer: dict[str, Any] = self.service.post_json("/v1/predict", {"customers": customers})
        return answer


def json_value(value: Any) -> Any:
    """A cell as JSON takes it: Python scalars for numpy's and pandas', None for pd.NA and NaT."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars (int64, float32, bool_)
        value = python_scalar(value)
    if is_pandas_missing(value):
        return None
    if isinstance(value, decimal.Decimal):
        return float(value)  # correctly rounded, as the service reads the digits
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if type(value) is int and not has_digits(value):
        # Python will not write so many digits; the service reads an integer beyond a double as this infinity
        return math.inf if value > 0 else -math.inf
    return value


def python_scalar(value: Any) -> Any:
    """A numpy scalar's Python value; anything else with an item() (an array of many) as it is, for the
    encoder to refuse in its own row."""
    try:
        return value.item()
    except (TypeError, ValueError):
        return value


def has_digits(number: int) -> bool:
    """Python writes the integer's decimal digits (it refuses more than sys.get_int_max_str_digits())."""
    if number.bit_length() < DOUBLE_MAX_BITS:
        return True
    try:
        str(number)
    except ValueError:
        return False
    return True


def is_pandas_missing(value: Any) -> bool:
    """pd.NA and pd.NaT, without importing pandas for records that hold neither."""
    kind = type(value)
    return kind.__module__.startswith("pandas") and kind.__name__ in ("NAType", "NaTType")


def scored_row(prediction: dict[str, Any]) -> dict[str, Any]:
    error = prediction.get("error")
    if error is not None:
        return {"error_code": error["code"], "error_message": error["message"]}
    return {k: prediction[k] for k in ("churn_probability", "churn", "percentile")}
