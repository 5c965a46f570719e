"""POST /invocations: MLflow's scoring protocol, which is also SageMaker's (churn.server.protocols.sagemaker).

The body is one of MLflow's JSON forms (`Content-Type: application/json`):
    {"dataframe_split": {"columns": [...], "data": [[...], ...], "index": [...]}}   pandas' to_dict("split")
    {"dataframe_records": [{...}, ...]}                                          pandas' to_dict("records")
    {"instances": [{...}, ...]}                                                  TF serving's rows
    {"inputs": {"column": [...], ...}} or {"inputs": [{...}, ...]}               TF serving's columns, or rows
with an optional empty "params"; or, for callers of SageMaker endpoints, one customer object (/predict's
body) or an array of them. CSV (`text/csv`, with or without a header) and JSON Lines are read by
churn.server.protocols.formats. Every customer is judged and scored by ChurnService.score_rows, as in
/v1/predict; the answer (churn.server.protocols.formats) has one prediction per customer, in order:
{"churn_probability", "churn"}, or for a customer the contract refuses, both null and its "error".

Errors answer in MLflow's shape, {"error_code": ..., "message": ...}, with the service's own error object
beside it ({"error": {"code", "message", "details"}}), so clients of either shape read them; error_code is
the MLflow ErrorCode name of the answer's status (mlflow_error_code), whichever layer refuses the request.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request

from churn.core import jsonkeys
from churn.core.contract import json_type
from churn.core.records import Table
from churn.core.service import ChurnService
from churn.errors import ApiError, Code
from churn.server.api import check_charset, content_type, parse_json
from churn.server.protocols import formats
from churn.server.wsgi import ROWS_KEY

bp = Blueprint("mlflow", __name__)
FORMS = ("dataframe_split", "dataframe_records", "instances", "inputs")
SPLIT_KEYS = frozenset({"columns", "data", "index"})
BODY_TYPES = (formats.JSON, formats.CSV, formats.JSON_LINES)
# MLflow's ErrorCode name for each HTTP status it gives one: mlflow/exceptions.py's HTTP_STATUS_TO_ERROR_CODE
# (its ERROR_CODE_TO_HTTP_STATUS reversed, with BAD_REQUEST, ENDPOINT_NOT_FOUND and INTERNAL_ERROR chosen
# for 400, 404 and 500), so that MLflow's client, mapping the name back (MlflowException.get_http_status_code),
# gets the status the answer has. 401 is UNAUTHENTICATED, which databricks.proto prefers to CUSTOMER_UNAUTHORIZED;
# 429 RESOURCE_EXHAUSTED, which it prefers to REQUEST_LIMIT_EXCEEDED.
STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# A status MLflow names no ErrorCode for (405, 406, 411, 413, 415, 422) gets its class's general name. Not
# MLflow's get_error_code fallback, INTERNAL_ERROR: that would tell a client its refused request was the
# server's fault (and mapped back, a 500). Every such 4xx here is a request MLflow would call BAD_REQUEST
# ("the request is invalid"; its scoring server's code for a body in none of its forms, or unreadable).
CLIENT_ERROR, SERVER_ERROR = "BAD_REQUEST", "INTERNAL_ERROR"


@bp.post("/invocations")
def invocations() -> Response:
    media = formats.answer_type(request.accept_mimetypes)  # before the work: a 406 costs no scoring
    table = read_table(request.mimetype, content_type(), request.get_data(cache=False))
    service: ChurnService = current_app.extensions["churn"]
    service.check_batch_size(len(table.rows))
    request.environ[ROWS_KEY] = len(table.rows)
    predictions = [formats.prediction(p) for p in service.score_rows(table.rows)["predictions"]]
    return Response(formats.render(predictions, media, table.header), mimetype=media)


def error_body(e: ApiError) -> dict[str, Any]:
    """MLflow's error shape, with the service's error object beside it: every refusal of /invocations,
    by the view, Flask's routing or the request middleware (churn.server.app.ERROR_SHAPES), is made here."""
    return {"error_code": mlflow_error_code(e.status), "message": e.message, **e.body()}


def mlflow_error_code(status: int) -> str:
    """The MLflow ErrorCode name of an error status. By the status alone: the service's own code (in the
    body beside it) refines no status into another MLflow name, as every one of them is either MLflow's
    for the status or a malformed request (BAD_REQUEST)."""
    return STATUS_CODES.get(status) or (SERVER_ERROR if status >= 500 else CLIENT_ERROR)


@bp.errorhandler(ApiError)
def mlflow_error(e: ApiError) -> Response:
    return Response(orjson.dumps(error_body(e)), status=e.status, mimetype=formats.JSON)


def read_table(mimetype: str, header: str, body: bytes) -> Table:
    """The customers of a body of this media type, whose Content-Type header (for its charset) is `header`."""
    check_charset(header)
    if mimetype == formats.JSON:
        return Table(records(parse_json(body)))
    if mimetype == formats.CSV:
        return formats.read_csv(body)
    if mimetype in formats.JSON_LINES_TYPES:
        return Table(formats.read_json_lines(body))
    raise ApiError(415, Code.UNSUPPORTED_MEDIA_TYPE, f"send the body as one of {', '.join(BODY_TYPES)}")


def records(payload: Any) -> list[Any]:
    """The customer records of a JSON body in any of MLflow's forms (or one customer, or an array of them)."""
    if type(payload) is list:
        return payload
    if type(payload) is not dict:
        raise invalid(f"the body must be a JSON object, got {json_type(payload)}")
    forms = [k for k in FORMS if k in payload]
    if not forms:
        return [payload]  # one customer, as /predict takes it
    repeated = sorted(k for k in (*FORMS, "params") if jsonkeys.repeated(payload, k))
    if len(forms) > 1 or repeated:
        raise invalid(f"the body must hold exactly one of {', '.join(FORMS)} once, got {', '.join(forms + repeated)}")
    form = forms[0]
    unknown = sorted(set(payload) - {form, "params"})
    if unknown:
        raise invalid(f"unknown request fields beside {form}: {', '.join(unknown)}")
    if payload.get("params") not in (None, {}):
        raise invalid("this model takes no params")
    data = payload[form]
    if form == "dataframe_split":
        return split_rows(data)
    if form == "inputs" and type(data) is dict:
        return column_rows(data)
    if type(data) is not list:
        raise invalid(f"{form} must be an array of customers, got {json_type(data)}")
    return data


def split_rows(split: Any) -> list[dict[str, Any]]:
    """pandas' split orient: column names and rows of values, and optionally "index", one label per row (unused)."""
    if type(split) is not dict or type(split.get("columns")) is not list or type(split.get("data")) is not list:
        raise invalid('dataframe_split must be an object with "columns" and "data" arrays')
    if not SPLIT_KEYS.issuperset(split):
        raise invalid(f"unknown dataframe_split fields: {', '.join(sorted(set(split) - SPLIT_KEYS))}")
    columns = column_names(split["columns"], "dataframe_split columns")
    rows = split["data"]
    index = split.get("index", rows)
    if type(index) is not list or len(index) != len(rows):
        # pandas writes one label per row: an index of another length means rows were lost or added on the way
        raise invalid(f"dataframe_split index must be an array of {len(rows)} labels, one per row of data")
    for i, row in enumerate(rows):
        if type(row) is not list or len(row) != len(columns):
            raise invalid(f"dataframe_split row {i} must be an array of {len(columns)} values, one per column")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def column_rows(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """TF serving's columnar form: each column name to an array of values, all of one length."""
    names = column_names(list(inputs), "inputs")
    columns = list(inputs.values())
    if not all(type(c) is list for c in columns) or len({len(c) for c in columns}) > 1:
        raise invalid("each column of inputs must be an array, all of the same length")
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def column_names(names: list[Any], where: str) -> list[str]:
    if not all(type(n) is str for n in names) or len(set(names)) != len(names):
        raise invalid(f"{where} must be distinct strings")
    return names


def invalid(message: str) -> ApiError:
    return ApiError(422, Code.INVALID_REQUEST, message)
