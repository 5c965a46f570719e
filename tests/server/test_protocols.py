"""The protocols (/invocations, /v2) answer what the one scoring path answers: the same probability to the bit,
the same verdict on every row, and bad input of every class a 4xx in the protocol's own shape, never a 5xx."""

from __future__ import annotations

import copy
import csv
import io
import json
import struct
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.http import HTTP_STATUS_CODES

from churn.config import Settings
from churn.core import features
from churn.core.contract import CategoryField, FlagField
from churn.core.model import LoadedModel
from churn.core.service import ChurnService
from churn.server.app import create_app
from churn.server.protocols import formats, mlflow, oip
from churn.server.protocols import tensors as oip_tensors
from tests.conftest import DATA_PATH, make_customer
from tests.support import strategies
from tests.support.wsgi import environ as wsgi_environ

SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
MAX_BATCH = 50
CUSTOMER = make_customer()
V2 = "/v2/models/churn/infer"


@pytest.fixture(scope="module")
def app(model: LoadedModel) -> Any:
    return create_app(Settings(max_batch=MAX_BATCH, max_body_bytes=1 << 20), model)


@pytest.fixture(scope="module")
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture(scope="module")
def service(app: Any) -> ChurnService:
    svc: ChurnService = app.extensions["churn"]
    return svc


def expected(service: ChurnService, rows: list[Any]) -> list[dict[str, Any]]:
    """What /v1/predict's scoring path says of each row, as a protocol prediction."""
    return [formats.prediction(p) for p in service.score_rows(rows)["predictions"]]


def csv_line(record: dict[str, Any], columns: tuple[str, ...] = features.EXPORT_COLUMNS) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(["" if record.get(c) is None else str(record[c]) for c in columns])
    return out.getvalue()


def tensors(rows: list[dict[str, Any]], service: ChurnService) -> list[dict[str, Any]]:
    """One OIP input per field, in JSON, from records holding every field."""
    kinds = {CategoryField: "BYTES", FlagField: "INT64"}
    return [
        {"name": name, "datatype": kinds.get(type(service.contract.fields[name]), "FP64"), "shape": [len(rows)],
         "data": [r[name] for r in rows]}
        for name in features.FIELDS
    ]  # fmt: skip


def binary_request(json_inputs: list[dict[str, Any]]) -> tuple[bytes, int]:
    """The same inputs (BYTES, INT64, FP64) in Triton's binary tensor data, as tritonclient sends them by default."""
    inputs, blobs = [], []
    for tensor in json_inputs:
        if tensor["datatype"] == "BYTES":
            blob = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in tensor["data"])
        else:
            blob = np.asarray(tensor["data"], dtype="<i8" if tensor["datatype"] == "INT64" else "<f8").tobytes()
        inputs.append(
            {**{k: v for k, v in tensor.items() if k != "data"}, "parameters": {"binary_data_size": len(blob)}}
        )
        blobs.append(blob)
    head = orjson.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}})
    return head + b"".join(blobs), len(head)


def test_the_reference_customer_scores_the_same_to_the_bit_through_every_protocol(
    client: Any, service: ChurnService
) -> None:
    p = client.post("/predict", json=CUSTOMER).json["churn_probability"]
    assert client.post("/v1/predict", json={"customers": [CUSTOMER]}).json["predictions"][0]["churn_probability"] == p
    columns = list(CUSTOMER)
    forms = [
        {"dataframe_split": {"columns": columns, "data": [[CUSTOMER[c] for c in columns]], "index": [0]}},
        {"dataframe_records": [CUSTOMER]},
        {"instances": [CUSTOMER]},
        {"inputs": {c: [CUSTOMER[c]] for c in columns}},
        {"inputs": [CUSTOMER]},
        CUSTOMER,
        [CUSTOMER],
    ]
    for form in forms:
        assert client.post("/invocations", json=form).json["predictions"] == [{"churn_probability": p, "churn": False}]
    line = csv_line(CUSTOMER)
    header = ",".join(columns) + "\n" + csv_line(CUSTOMER, tuple(columns))
    for body in (line, header):
        answer = client.post("/invocations", data=body, content_type="text/csv", headers={"Accept": "text/csv"})
        assert float(answer.get_data(as_text=True).splitlines()[-1].split(",")[0]) == p
    lines = client.post("/invocations", data=orjson.dumps(CUSTOMER), content_type="application/jsonlines")
    assert lines.json["predictions"][0]["churn_probability"] == p
    assert client.post(V2, json={"inputs": tensors([CUSTOMER], service)}).json["outputs"][0]["data"] == [p]
    body, length = binary_request(tensors([CUSTOMER], service))
    answer = client.post(V2, data=body, headers={"Inference-Header-Content-Length": str(length)})
    head = int(answer.headers["Inference-Header-Content-Length"])
    assert np.frombuffer(answer.data[head : head + 8], dtype="<f8").tolist() == [p]


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_invocations_give_each_row_the_verdict_of_the_scoring_path(
    client: Any, service: ChurnService, data: Any
) -> None:
    rows = data.draw(st.lists(strategies.records(service.contract), max_size=6))
    try:
        body = orjson.dumps({"dataframe_records": rows})
    except TypeError:  # integers beyond 64 bits, which orjson cannot write
        return
    want = expected(service, orjson.loads(body)["dataframe_records"])
    assert client.post("/invocations", data=body, content_type="application/json").json["predictions"] == want
    lines = b"\n".join(orjson.dumps(r) for r in orjson.loads(body)["dataframe_records"])
    got = client.post("/invocations", data=lines, content_type="application/jsonlines").json["predictions"]
    assert got == want


def text_rows(service: ChurnService) -> st.SearchStrategy[list[dict[str, str]]]:
    """CRM export rows of text over the whole domain (every field's spellings, blanks, junk), ids included."""
    specs = service.contract.fields
    cell = {name: strategies.values(specs[name], text_only=True) for name in features.FIELDS}
    cell[features.ID_FIELD] = strategies.customerids(text_only=True)
    clean = {k: v.map(lambda t: t.replace("\x00", "").replace("\r", "")) for k, v in cell.items()}
    return st.lists(st.fixed_dictionaries({c: clean[c] for c in features.EXPORT_COLUMNS}), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_csv_rows_without_a_header_get_the_verdict_of_the_same_records(
    client: Any, service: ChurnService, data: Any
) -> None:
    rows = data.draw(text_rows(service))
    body = "".join(csv_line(r) for r in rows).encode()
    answer = client.post("/invocations", data=body, content_type="text/csv", headers={"Accept": "text/csv"})
    want = expected(service, [{c: r[c] for c in features.EXPORT_COLUMNS} for r in rows])
    lines = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert answer.status_code == 200 and len(lines) == len(rows)
    for got, p in zip(lines, want, strict=True):
        if p["churn_probability"] is None:
            assert got[:3] == ["", "", p["error"]["code"]] and got[3] == p["error"]["message"]
        else:
            assert (float(got[0]), got[1]) == (p["churn_probability"], "true" if p["churn"] else "false")


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_v2_infer_scores_like_the_scoring_path_and_refuses_what_it_refuses(
    client: Any, service: ChurnService, data: Any
) -> None:
    specs = service.contract.fields
    kinds = {CategoryField: st.text(max_size=12), FlagField: st.integers(-3, 3)}
    number = st.floats() | st.integers(-(2**63), 2**63 - 1)  # numbers in range or not, NaN and infinities too
    one = st.fixed_dictionaries({name: kinds.get(type(specs[name]), number) for name in features.FIELDS})
    valid = st.fixed_dictionaries({name: strategies.plain_values(specs[name]) for name in features.FIELDS})
    rows = data.draw(st.lists(valid | one, min_size=1, max_size=6))
    answer = client.post(V2, data=json.dumps({"id": "r-1", "inputs": tensors(rows, service)}))  # NaN as NaN
    want = expected(service, rows)
    refused = [i for i, p in enumerate(want) if p["churn_probability"] is None]
    if refused:
        assert answer.status_code == 422 and answer.json["code"] == "validation_failed"
        assert [d["index"] for d in answer.json["details"]] == refused
        assert isinstance(answer.json["error"], str)
        return
    body = answer.json
    assert body["id"] == "r-1" and [o["name"] for o in body["outputs"]] == ["churn_probability", "churn"]
    assert body["outputs"][0]["data"] == [p["churn_probability"] for p in want]
    assert body["outputs"][1]["data"] == [p["churn"] for p in want]


def v1_verdict(client: Any, rows: list[dict[str, Any]]) -> tuple[int, Any]:
    """What /v2's infer must answer for these customers, from /v1/predict's verdict on each: the refused rows
    (422, each row's index and /v1/predict's error), or the probabilities when none is refused."""
    body = json.dumps({"customers": rows})  # NaN as NaN
    predictions = client.post("/v1/predict", data=body, content_type="application/json").json["predictions"]
    refused = [{"index": i, "error": p["error"]} for i, p in enumerate(predictions) if "error" in p]
    return (422, refused) if refused else (200, [p["churn_probability"] for p in predictions])


def v2_verdict(answer: Any) -> tuple[int, Any]:
    if answer.status_code == 422:
        assert answer.json["code"] == "validation_failed", answer.json
        return 422, answer.json["details"]
    assert answer.status_code == 200, answer.json
    return 200, answer.json["outputs"][0]["data"]


def missing_value(field: str, error: Any) -> bool:
    """Whether /v1/predict's error for a row says that field is missing (and nothing else)."""
    return [(d["field"], d["code"]) for d in error["details"]] == [(field, "missing_field")]


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_a_null_anywhere_in_a_tensor_is_that_customers_value_missing(
    client: Any, service: ChurnService, data: Any
) -> None:
    """A JSON null in an input's data is not a value of the wrong type: it is that row's field missing, and the
    answer is /v1/predict's verdict on the same customers, at every row of a batch, in an input of any datatype
    (a column of nulls only fits every datatype)."""
    specs = service.contract.fields
    valid = st.fixed_dictionaries({name: strategies.plain_values(specs[name]) for name in features.FIELDS})
    rows = data.draw(st.lists(valid, min_size=1, max_size=5))
    cells = st.tuples(st.integers(0, len(rows) - 1), st.sampled_from(features.FIELDS))
    for row, field in data.draw(st.sets(cells, min_size=1, max_size=8)):
        rows[row][field] = None
    inputs = tensors(rows, service)
    for tensor in inputs:
        if all(value is None for value in tensor["data"]):
            tensor["datatype"] = data.draw(st.sampled_from(sorted(oip_tensors.DATATYPES)))
    assert v2_verdict(client.post(V2, json={"inputs": inputs})) == v1_verdict(client, rows)


@pytest.mark.parametrize("field", features.FIELDS)
@pytest.mark.parametrize("row", [0, 1, 2])
def test_a_null_value_of_each_field_is_judged_as_on_every_route(client: Any, service: ChurnService, field: str,
                                                                 row: int) -> None:  # fmt: skip
    """The docs' rule: a null totalcharges is a new customer's 0, a null in any other field is missing_field."""
    rows = [make_customer(), make_customer(), make_customer()]
    rows[row][field] = None
    status, verdict = v2_verdict(client.post(V2, json={"inputs": tensors(rows, service)}))
    if field == "totalcharges":
        new_customer = client.post("/predict", json=make_customer(totalcharges=0)).json["churn_probability"]
        assert status == 200 and verdict[row] == new_customer
    else:
        assert status == 422 and [d["index"] for d in verdict] == [row]
        assert missing_value(field, verdict[0]["error"])


@pytest.mark.parametrize("field", features.FIELDS)
def test_binary_tensors_send_a_missing_value_as_nan_or_a_blank(client: Any, service: ChurnService, field: str) -> None:
    """Binary data has no null: a number is sent missing as NaN in a float tensor (seniorcitizen too, as FP64), a
    category as an empty BYTES element; each gets the verdict /v1/predict gives the same value."""
    rows = [make_customer(), make_customer()]
    numeric = not isinstance(service.contract.fields[field], CategoryField)
    rows[1][field] = float("nan") if numeric else ""
    inputs = tensors(rows, service)
    for tensor in inputs:
        if tensor["name"] == field and numeric:
            tensor["datatype"] = "FP64"
    body, length = binary_request(inputs)
    answer = client.post(V2, data=body, headers={"Inference-Header-Content-Length": str(length)})
    want = v1_verdict(client, rows)
    if want[0] == 422:
        assert v2_verdict(answer) == want
    else:
        head = int(answer.headers["Inference-Header-Content-Length"])
        assert (answer.status_code, np.frombuffer(answer.data[head : head + 16], dtype="<f8").tolist()) == want


def test_a_value_neither_null_nor_of_the_datatype_is_still_a_400(client: Any) -> None:
    for datatype, value in [("FP64", "1"), ("FP64", True), ("INT64", 1.5), ("BYTES", 1), ("BOOL", 0), ("UINT8", -1)]:
        tensor = {"name": "tenure", "datatype": datatype, "shape": [2], "data": [None, value]}
        answer = client.post(V2, json={"inputs": [tensor]})
        assert (answer.status_code, answer.json["code"]) == (400, "invalid_request"), (datatype, value)
        assert answer.json["error"].endswith("at 1")


def nestings(value: Any) -> st.SearchStrategy[Any]:
    """Any arrangement of arrays around copies of one value, the value itself (no array) included."""
    return st.recursive(st.just(value), lambda inner: st.lists(inner, max_size=3), max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(field=st.sampled_from(features.FIELDS), two_dimensional=st.booleans(), data=st.data())
def test_tensor_data_is_flat_or_nested_as_its_shape_and_nothing_else(
    client: Any, service: ChurnService, field: str, two_dimensional: bool, data: st.DataObject
) -> None:
    """A one-customer input's data is [v], or [[v]] for the shape [1, 1]; any other arrangement (a bare
    value, deeper or ragged nesting, more or fewer values) is a 400 naming the input, never scored."""
    inputs = tensors([make_customer()], service)
    tensor = next(t for t in inputs if t["name"] == field)
    value = tensor["data"][0]
    tensor["shape"] = [1, 1] if two_dimensional else [1]
    tensor["data"] = arrangement = data.draw(nestings(value))
    answer = client.post(V2, json={"inputs": inputs})
    if arrangement == [value] or (two_dimensional and arrangement == [[value]]):
        flat_inputs = tensors([make_customer()], service)
        assert v2_verdict(answer) == v2_verdict(client.post(V2, json={"inputs": flat_inputs}))
    else:
        assert (answer.status_code, answer.json["code"]) == (400, "invalid_request"), arrangement
        assert answer.json["error"].startswith(f"input {field}")


@pytest.mark.parametrize("depth", [3, 100, 600, 1000, 5000])
def test_deeply_nested_tensor_data_is_a_400_at_any_depth(client: Any, service: ChurnService, depth: int) -> None:
    """Nesting is never followed down (no depth can exhaust the stack): past the one level a [n, 1]
    shape allows, it is data of the wrong type, and past the JSON parser's own limit, invalid JSON."""
    inputs = tensors([make_customer()], service)
    inputs[0]["shape"] = [1, 1]
    inputs[0]["data"] = "@@"
    nested = "[" * depth + json.dumps(make_customer()[inputs[0]["name"]]) + "]" * depth
    body = json.dumps({"inputs": inputs}).replace('"@@"', nested)
    answer = client.post(V2, data=body, content_type="application/json")
    assert answer.status_code == 400 and answer.json["code"] in ("invalid_request", "invalid_json"), answer.json


def test_a_csv_header_in_any_spelling_gives_a_header_in_the_answer(client: Any) -> None:
    header, *rows = DATA_PATH.read_text(encoding="utf-8").splitlines(keepends=True)[:4]
    rows = [row.rstrip("\n") for row in rows]
    body = header + "\n".join(rows)  # the export itself, Churn column and all
    answer = client.post("/invocations", data=body, content_type="text/csv", headers={"Accept": "text/csv"})
    lines = answer.get_data(as_text=True).split("\n")
    assert lines[0] == ",".join(formats.CSV_COLUMNS) and len(lines) == 4
    headerless = "\n".join(line.rsplit(",", 1)[0] for line in rows)  # Churn left out: the export's order
    again = client.post("/invocations", data=headerless, content_type="text/csv", headers={"Accept": "text/csv"})
    assert again.get_data(as_text=True).split("\n") == lines[1:]


def test_the_export_columns_are_the_data_sets_without_churn() -> None:
    header = DATA_PATH.read_text(encoding="utf-8").split("\n", 1)[0].strip().split(",")
    assert tuple(features.normalize(h) for h in header) == (*features.EXPORT_COLUMNS, features.TARGET)


ACCEPTS = [
    (None, "application/json"), ("", "application/json"), ("*/*", "application/json"), ("text/csv", "text/csv"),
    ("application/jsonlines", "application/jsonlines"), ("application/x-jsonlines", "application/jsonlines"),
    ("application/jsonl", "application/jsonlines"), ("text/*;q=0.9, application/json;q=0.5", "text/csv"),
    # a parameter: the answer's own charset is the answer, another one is another representation
    ("application/json; charset=utf-8", "application/json"), ("text/csv; charset=utf-8", "text/csv"),
    ("application/jsonlines; charset=utf-8", "application/jsonlines"), ('text/csv; charset="utf-8"', "text/csv"),
    ("TEXT/CSV; Charset=UTF-8", "text/csv"), ("text/csv;charset=latin-1, application/json;q=0.1", "application/json"),
    ("text/csv;charset=utf-8;q=0.5, application/json;q=0.4", "text/csv"),
    # q=0 refuses a type; the most specific entry that names a type decides its quality
    ("text/csv;q=0, */*", "application/json"), ("application/json;q=0, application/*", "application/jsonlines"),
    ("application/json;q=0, */*;q=0.1", "text/csv"), ("text/csv;q=0.1, text/*", "text/csv"),
    ("image/png, text/csv;q=0.1", "text/csv"), ("Application/JSON", "application/json"),
    # ties: the more specific entry, then the one listed first, then JSON, CSV, JSON Lines
    ("text/*, application/json", "application/json"), ("text/csv, application/json", "text/csv"),
    ("application/json, text/csv", "application/json"), ("application/*", "application/json"),
]  # fmt: skip
NOT_ACCEPTABLE = ["image/png", "*/*;q=0", "application/json;q=0", "text/csv; charset=latin-1", "text/html, text/*;q=0",
                  "text/csv;charset=utf-8;q=0, text/*", "application/json; version=2", "garbage"]  # fmt: skip


@pytest.mark.parametrize(("accept", "media"), ACCEPTS, ids=[str(a) for a, _ in ACCEPTS])
def test_invocations_answer_in_the_accepted_type(client: Any, accept: str | None, media: str) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    answer = client.post("/invocations", json=[CUSTOMER, CUSTOMER], headers=headers)
    assert answer.status_code == 200 and answer.mimetype == media, answer.data
    if media == "application/jsonlines":
        assert [orjson.loads(line)["churn"] for line in answer.data.split(b"\n")] == [False, False]


@pytest.mark.parametrize("accept", NOT_ACCEPTABLE)
def test_an_accept_header_that_refuses_every_answer_type_is_a_406(client: Any, accept: str) -> None:
    answer = client.post("/invocations", json=[CUSTOMER], headers={"Accept": accept})
    assert answer.status_code == 406 and answer.json["error"]["code"] == "not_acceptable"


JSON_LINES_NAMES = ["application/jsonlines", "application/x-jsonlines", "application/jsonl"]
ANSWERS = {
    "application/json": ["application/json"],
    "text/csv": ["text/csv"],
    "application/jsonlines": JSON_LINES_NAMES,
}
RANGES = [*(name for names in ANSWERS.values() for name in names), "text/*", "application/*", "*/*", "image/png"]


@st.composite
def accept_entries(draw: Any) -> tuple[str, str, dict[str, str], float]:
    """One entry of an Accept header: a media range, its parameters (on a whole type only) and its quality."""
    media_range = draw(st.sampled_from(RANGES))
    some = [{}, {"charset": "utf-8"}, {"charset": "UTF-8"}, {"charset": "latin-1"}, {"header": "present"}]
    params = {} if "*" in media_range else draw(st.sampled_from(some))
    quality = draw(st.sampled_from([1.0, 0.9, 0.5, 0.001, 0.0]))
    kind, subtype = media_range.split("/")
    return kind, subtype, params, quality


def written(draw: Any, entry: tuple[str, str, dict[str, str], float]) -> str:
    """An entry as a client may write it: any case, spaces around ";" or none, q given or left at 1."""
    kind, subtype, params, quality = entry
    media = "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in f"{kind}/{subtype}")
    parts = [media, *(f"{k}={v}" for k, v in params.items())]
    if quality != 1 or draw(st.booleans()):
        parts.append(f"q={quality:g}")
    return draw(st.sampled_from([";", "; ", " ; "])).join(parts)


def rfc_quality(entries: list[tuple[str, str, dict[str, str], float]], answer: str) -> float:
    """RFC 9110's quality of an answer (UTF-8, no other parameter): that of the most specific entry naming it."""

    def names(entry: tuple[str, str, dict[str, str], float]) -> bool:
        kind, subtype, params, _ = entry
        params_fit = {k: v.lower() for k, v in params.items()} in ({}, {"charset": "utf-8"})
        return params_fit and any(
            (kind, subtype) == ("*", "*") or (kind == t and subtype in ("*", s))
            for t, s in (name.split("/") for name in ANSWERS[answer])
        )

    specific = [((e[0] != "*", e[1] != "*", bool(e[2])), e[3]) for e in entries if names(e)]
    return max(specific, default=((), 0.0))[1]


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_any_accept_header_is_answered_in_a_type_it_prefers_most_or_406(client: Any, data: Any) -> None:
    entries = data.draw(st.lists(accept_entries(), min_size=1, max_size=5))
    header = data.draw(st.sampled_from([",", ", "])).join(written(data.draw, e) for e in entries)
    qualities = {answer: rfc_quality(entries, answer) for answer in ANSWERS}
    answer = client.post("/invocations", json=[CUSTOMER], headers={"Accept": header})
    if max(qualities.values()) == 0:
        assert answer.status_code == 406 and answer.json["error"]["code"] == "not_acceptable", header
    else:
        assert answer.status_code == 200, (header, answer.data)
        assert qualities[answer.mimetype] == max(qualities.values()), (header, qualities)


MLFLOW_BAD = [
    ("not JSON", b"{", "application/json", 400, "invalid_json"),
    ("a number", b"7", "application/json", 422, "invalid_request"),
    ("two forms", orjson.dumps({"instances": [], "inputs": []}), "application/json", 422, "invalid_request"),
    ("a form twice", b'{"instances": [], "instances": []}', "application/json", 422, "invalid_request"),
    ("an unknown field", orjson.dumps({"instances": [], "note": 1}), "application/json", 422, "invalid_request"),
    ("params", orjson.dumps({"instances": [], "params": {"k": 1}}), "application/json", 422, "invalid_request"),
    ("instances not an array", orjson.dumps({"instances": {}}), "application/json", 422, "invalid_request"),
    ("split without data", orjson.dumps({"dataframe_split": {"columns": []}}), "application/json", 422,
     "invalid_request"),
    ("split row too short", orjson.dumps({"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}),
     "application/json", 422, "invalid_request"),
    ("split columns repeat", orjson.dumps({"dataframe_split": {"columns": ["a", "a"], "data": []}}),
     "application/json", 422, "invalid_request"),
    ("split unknown field", orjson.dumps({"dataframe_split": {"columns": [], "data": [], "x": 1}}),
     "application/json", 422, "invalid_request"),
    ("columns of two lengths", orjson.dumps({"inputs": {"a": [1], "b": [1, 2]}}), "application/json", 422,
     "invalid_request"),
    ("a column not an array", orjson.dumps({"inputs": {"a": 1}}), "application/json", 422, "invalid_request"),
    ("too many rows", orjson.dumps([CUSTOMER] * (MAX_BATCH + 1)), "application/json", 413, "batch_too_large"),
    ("CSV short line", csv_line(CUSTOMER) + "a,b\n", "text/csv", 400, "invalid_csv"),
    ("CSV long line", csv_line(CUSTOMER).strip() + ",No\n", "text/csv", 400, "invalid_csv"),
    ("CSV header repeats", "gender,gender,tenure\n", "text/csv", 400, "invalid_csv"),
    ("CSV header row short", "gender,tenure\nfemale\n", "text/csv", 400, "invalid_csv"),
    ("CSV not UTF-8", b"\xff\xfe,", "text/csv", 400, "invalid_csv"),
    ("CSV too many rows", csv_line(CUSTOMER) * (MAX_BATCH + 1), "text/csv", 413, "batch_too_large"),
    ("JSON Lines bad line", b'{"a": 1}\n{', "application/jsonlines", 400, "invalid_json"),
    ("latin-1", b"{}", "application/json; charset=latin-1", 415, "unsupported_media_type"),
    ("form post", b"a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"), [c[1:] for c in MLFLOW_BAD], ids=[c[0] for c in MLFLOW_BAD]
)
def test_bad_invocations_answer_in_mlflows_shape_with_the_services_code(
    client: Any, body: Any, content_type: str, status: int, code: str
) -> None:
    answer = client.post("/invocations", data=body, content_type=content_type)
    assert answer.status_code == status, answer.data
    assert answer.json["error_code"] == "BAD_REQUEST" and answer.json["error"]["code"] == code
    assert answer.json["message"] == answer.json["error"]["message"]


@pytest.mark.parametrize("rows", [0, 1, 3])
@pytest.mark.parametrize("labels", [0, 1, 2, 3, 4])
def test_a_dataframe_split_index_holds_one_label_per_row(client: Any, rows: int, labels: int) -> None:
    """pandas' split orient has one index label per row: an index of another length is refused, not ignored."""
    columns = list(CUSTOMER)
    split = {"columns": columns, "data": [[CUSTOMER[c] for c in columns]] * rows, "index": list(range(labels))}
    answer = client.post("/invocations", json={"dataframe_split": split})
    if labels == rows:
        assert answer.status_code == 200 and len(answer.json["predictions"]) == rows
    else:
        assert (answer.status_code, answer.json["error_code"], answer.json["error"]["code"]) == (
            422, "BAD_REQUEST", "invalid_request")  # fmt: skip
        assert "index" in answer.json["message"] and f"{rows} labels" in answer.json["message"]


@pytest.mark.parametrize("index", [None, {}, "0", 0, True, {"0": 0}])
def test_a_dataframe_split_index_that_is_not_an_array_is_refused(client: Any, index: Any) -> None:
    split = {"columns": ["tenure"], "data": [[1]], "index": index}
    answer = client.post("/invocations", json={"dataframe_split": split})
    assert (answer.status_code, answer.json["error"]["code"]) == (422, "invalid_request")


def test_an_answer_type_nobody_offers_is_a_406_before_any_scoring(client: Any) -> None:
    answer = client.post("/invocations", json=[CUSTOMER], headers={"Accept": "image/png"})
    assert answer.status_code == 406 and answer.json["error"]["code"] == "not_acceptable"


def test_csv_line_numbers_are_named_in_the_error(client: Any) -> None:
    body = csv_line(CUSTOMER) * 2 + "\n" + "x,y\n"
    message = client.post("/invocations", data=body, content_type="text/csv").json["message"]
    assert message.startswith("line 4 of the CSV has 2 cells")


OIP_BAD = [
    ("not an object", b"[]", {}, 400, "invalid_request"),
    ("unknown field", orjson.dumps({"inputs": [], "x": 1}), {}, 400, "invalid_request"),
    ("no inputs", orjson.dumps({"inputs": []}), {}, 400, "invalid_request"),
    ("id not a string", orjson.dumps({"id": 1, "inputs": []}), {}, 400, "invalid_request"),
    ("content type np", orjson.dumps({"inputs": [], "parameters": {"content_type": "np"}}), {}, 400,
     "invalid_request"),
    ("shape of a matrix", orjson.dumps({"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [1, 2],
     "data": [1, 2]}]}), {}, 400, "invalid_request"),
    ("shape and data disagree", orjson.dumps({"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [2],
     "data": [1]}]}), {}, 400, "invalid_request"),
    ("a string in FP64", orjson.dumps({"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [1],
     "data": ["1"]}]}), {}, 400, "invalid_request"),
    ("a number in BYTES", orjson.dumps({"inputs": [{"name": "gender", "datatype": "BYTES", "shape": [1],
     "data": [1]}]}), {}, 400, "invalid_request"),
    ("unknown datatype", orjson.dumps({"inputs": [{"name": "gender", "datatype": "STRING", "shape": [1],
     "data": ["f"]}]}), {}, 400, "invalid_request"),
    ("no data", orjson.dumps({"inputs": [{"name": "gender", "datatype": "BYTES", "shape": [1]}]}), {}, 400,
     "invalid_request"),
    ("an input twice", orjson.dumps({"inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]}] * 2}),
     {}, 400, "invalid_request"),
    ("inputs of two lengths", orjson.dumps({"inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]},
     {"name": "b", "datatype": "FP64", "shape": [2], "data": [1, 2]}]}), {}, 400, "invalid_request"),
    ("shared memory", orjson.dumps({"inputs": [{"name": "a", "datatype": "FP64", "shape": [1],
     "parameters": {"shared_memory_region": "r"}}]}), {}, 400, "invalid_request"),
    ("binary too short", orjson.dumps({"inputs": [{"name": "a", "datatype": "FP64", "shape": [2],
     "parameters": {"binary_data_size": 8}}]}) + b"\0" * 8, "header", 400, "invalid_request"),
    ("binary left over", orjson.dumps({"inputs": [{"name": "a", "datatype": "FP64", "shape": [1],
     "parameters": {"binary_data_size": 8}}]}) + b"\0" * 9, "header", 400, "invalid_request"),
    ("bytes cut short", orjson.dumps({"inputs": [{"name": "a", "datatype": "BYTES", "shape": [1],
     "parameters": {"binary_data_size": 6}}]}) + struct.pack("<I", 9) + b"ab", "header", 400, "invalid_request"),
    ("bytes not UTF-8", orjson.dumps({"inputs": [{"name": "a", "datatype": "BYTES", "shape": [1],
     "parameters": {"binary_data_size": 5}}]}) + struct.pack("<I", 1) + b"\xff", "header", 400, "invalid_request"),
    ("header length past the body", b"{}", {"Inference-Header-Content-Length": "99"}, 400, "invalid_request"),
    ("unknown output", orjson.dumps({"inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]}],
     "outputs": [{"name": "score"}]}), {}, 400, "invalid_request"),
    ("a refused customer", orjson.dumps({"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [1],
     "data": [1]}]}), {}, 422, "validation_failed"),
    ("too many rows", orjson.dumps({"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [MAX_BATCH + 1],
     "data": [1] * (MAX_BATCH + 1)}]}), {}, 413, "batch_too_large"),
    ("not JSON", b"{", {}, 400, "invalid_json"),
]  # fmt: skip


def with_value_at(request: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of the request with the value at path (keys and indexes) replaced."""
    copied = copy.deepcopy(request)
    *parents, last = path
    node = copied
    for step in parents:
        node = node[step]
    node[last] = value
    return copied


NAME_SLOTS = [("inputs", 0, "datatype"), ("inputs", 0, "name"), ("inputs", 0, "parameters", "content_type"),
              ("outputs", 0, "name"), ("parameters", "content_type"), ("id",)]  # fmt: skip


@pytest.mark.parametrize("slot", NAME_SLOTS, ids=["/".join(map(str, s)) for s in NAME_SLOTS])
@pytest.mark.parametrize("value", [{}, [], {"a": 1}, ["FP64"], None, 1, True], ids=repr)
def test_an_object_or_array_where_a_name_belongs_is_a_400(client: Any, slot: tuple[Any, ...], value: Any) -> None:
    """Each field the protocol reads as one of a few names (a datatype, an output, a codec) or as text: an object
    or an array there (unhashable, so no lookup can be tried on it) is refused like any other wrong value."""
    tensor = {"name": "tenure", "datatype": "FP64", "shape": [1], "data": [1], "parameters": {"content_type": "np"}}
    request = {"id": "r", "parameters": {"content_type": "pd"}, "inputs": [tensor], "outputs": [{"name": "churn"}]}
    answer = client.post(V2, json=with_value_at(request, slot, value))
    accepted_as_absent = value is None and slot[-1] in ("content_type", "id")  # null is "not given" there
    assert answer.status_code == (422 if accepted_as_absent else 400), answer.json
    assert protocol_error_code(V2, answer.json) == ("validation_failed" if accepted_as_absent else "invalid_request")


@pytest.mark.parametrize(("body", "headers", "status", "code"), [c[1:] for c in OIP_BAD], ids=[c[0] for c in OIP_BAD])
def test_bad_inference_requests_answer_in_the_protocols_shape_with_the_services_code(
    client: Any, body: bytes, headers: Any, status: int, code: str
) -> None:
    if headers == "header":  # the JSON header is the body up to its last "}"
        headers = {"Inference-Header-Content-Length": str(body.rindex(b"}") + 1)}
    answer = client.post(V2, data=body, headers=headers)
    assert answer.status_code == status, answer.data
    assert answer.json["code"] == code and isinstance(answer.json["error"], str)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/v2/models/other", 404), ("/v2/models/other/infer", 404), ("/v2/models/churn/versions/0/ready", 404),
     ("/v2/models/churn/ready", 200), ("/v2/health/ready", 200), ("/v2/health/live", 200), ("/v2", 200)],
)  # fmt: skip
def test_v2_metadata_and_health(client: Any, path: str, status: int) -> None:
    answer = client.post(path, json={}) if path.endswith("/infer") else client.get(path)
    assert answer.status_code == status
    if status == 404:
        assert answer.json["code"] == "not_found" and isinstance(answer.json["error"], str)


def test_v2_model_metadata_names_every_field_with_its_datatype(client: Any, service: ChurnService) -> None:
    for path in ("/v2/models/churn", f"/v2/models/churn/versions/{service.model.version}"):
        body = client.get(path).json
        assert [i["name"] for i in body["inputs"]] == list(features.FIELDS)
        kinds = {i["name"]: i["datatype"] for i in body["inputs"]}
        assert (kinds["contract"], kinds["seniorcitizen"], kinds["tenure"]) == ("BYTES", "INT64", "FP64")
        assert body["outputs"] == [{"name": "churn_probability", "datatype": "FP64", "shape": [-1]},
                                   {"name": "churn", "datatype": "BOOL", "shape": [-1]}]  # fmt: skip


def test_mlservers_pandas_codec_request_is_read(client: Any, service: ChurnService) -> None:
    """The payload MLServer's PandasCodec.encode_request makes of a DataFrame: request content_type "pd",
    one input per column of shape [n, 1], strings as BYTES with content_type "str" (MLServer itself does not
    install lightly: grpc, OpenTelemetry, Kafka)."""
    rows = [CUSTOMER, make_customer(contract="two_year")]
    inputs = [{**t, "shape": [2, 1], "data": [[v] for v in t["data"]]} for t in tensors(rows, service)]
    for t in inputs:
        if t["datatype"] == "BYTES":
            t["parameters"] = {"content_type": "str"}
    body = client.post(V2, json={"parameters": {"content_type": "pd"}, "inputs": inputs}).json
    assert body["outputs"][0]["data"] == [p["churn_probability"] for p in expected(service, rows)]


def test_outputs_are_answered_as_asked(client: Any, service: ChurnService) -> None:
    request = {
        "inputs": tensors([CUSTOMER] * 3, service),
        "outputs": [{"name": "churn", "parameters": {"binary_data": True}}],
    }
    answer = client.post(V2, json=request)
    head = int(answer.headers["Inference-Header-Content-Length"])
    (output,) = orjson.loads(answer.data[:head])["outputs"]
    assert output == {"name": "churn", "datatype": "BOOL", "shape": [3], "parameters": {"binary_data_size": 3}}
    assert answer.data[head:] == b"\x00\x00\x00"


BODIES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["inputs", "outputs", "parameters", "name", "shape", "datatype", "data", "id",
                         "binary_data_size", "content_type", "dataframe_split", "columns", "instances", "tenure"]),
        inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW)
@given(body=BODIES, path=st.sampled_from([V2, "/invocations"]), kind=st.sampled_from(["application/json", "text/csv"]))
def test_no_body_is_a_server_error(client: Any, body: Any, path: str, kind: str) -> None:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()  # big integers and NaN too
    answer = client.post(path, data=data, content_type=kind, headers={"Inference-Header-Content-Length": "2"})
    assert answer.status_code < 500, answer.data
    plain = client.post(path, data=data, content_type=kind)
    assert plain.status_code < 500, plain.data


def test_refusals_before_the_app_come_in_the_protocols_shape_too(model: LoadedModel) -> None:
    """The middleware's own answers (no key, a body past the limit): tritonclient reads "error" as text."""
    secured = create_app(Settings(api_keys=("k" * 24,), max_body_bytes=1024), model).test_client()
    big = b"[" + b"0," * 600 + b"0]"
    for path, body in ((V2, b"{}"), (V2, big), ("/v2/models/churn", b"")):
        answer = secured.post(path, data=body) if body else secured.get(path)
        assert answer.status_code in (401, 413) and isinstance(answer.json["error"], str), answer.json
    for body in (b"[]", big):
        answer = secured.post("/invocations", data=body, content_type="application/json")
        assert answer.status_code in (401, 413) and answer.json["error_code"] == MLFLOW_NAMES[answer.status_code]
        assert answer.json["error"]["code"] in ("unauthorized", "payload_too_large")
    assert secured.post("/predict", json={}).json["error"]["code"] == "unauthorized"  # the service's shape
    assert secured.get("/v2/health/ready").status_code == 200  # open, like /healthz


def protocol_error_code(path: str, body: Any) -> str:
    """The service's code in the error shape of the protocol the path belongs to; fails on any other shape."""
    if path.startswith("/v2"):
        assert set(body) == {"error", "code", "details"} and isinstance(body["error"], str), body
        return str(body["code"])
    assert body["error_code"] in MLFLOW_NAMES.values() and body["message"] == body["error"]["message"]
    return str(body["error"]["code"])


# MLflow's ErrorCode names (mlflow/protos/databricks.proto) and the HTTP status of each, as
# mlflow/exceptions.py's ERROR_CODE_TO_HTTP_STATUS gives them: what MLflow's client maps a name back to.
MLFLOW_STATUS_OF = {
    "INTERNAL_ERROR": 500, "INVALID_STATE": 500, "DATA_LOSS": 500, "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504, "REQUEST_LIMIT_EXCEEDED": 429, "CANCELLED": 499,
    "RESOURCE_EXHAUSTED": 429, "ABORTED": 409, "RESOURCE_CONFLICT": 409, "ALREADY_EXISTS": 409, "NOT_FOUND": 404,
    "ENDPOINT_NOT_FOUND": 404, "RESOURCE_DOES_NOT_EXIST": 404, "PERMISSION_DENIED": 403,
    "CUSTOMER_UNAUTHORIZED": 401, "UNAUTHENTICATED": 401, "BAD_REQUEST": 400, "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_PARAMETER_VALUE": 400,
}  # fmt: skip
# The name each status /invocations answers gets: MLflow's own choice for the status where it makes one
# (HTTP_STATUS_TO_ERROR_CODE), else the general client error; never INTERNAL_ERROR for a client's fault.
MLFLOW_NAMES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 404: "ENDPOINT_NOT_FOUND", 405: "BAD_REQUEST",
                406: "BAD_REQUEST", 411: "BAD_REQUEST", 413: "BAD_REQUEST", 415: "BAD_REQUEST", 422: "BAD_REQUEST",
                500: "INTERNAL_ERROR"}  # fmt: skip


@pytest.mark.parametrize("status", sorted(s for s in HTTP_STATUS_CODES if s >= 400))
def test_mlflows_error_code_maps_back_to_the_status_or_at_least_its_class(status: int) -> None:
    """MLflow's client reads error_code and maps it back to a status: the answer's own where MLflow names one
    for it, else one of the same class (a client's fault stays a client's fault)."""
    name = mlflow.mlflow_error_code(status)
    back = MLFLOW_STATUS_OF[name]
    if status in MLFLOW_STATUS_OF.values():
        assert back == status
    else:
        assert back // 100 == status // 100 and name in ("BAD_REQUEST", "INTERNAL_ERROR")


SECURED_KEY = "k" * 24


def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a bug")


# Every way the service refuses POST /invocations, whichever layer answers: (what, path, method, body,
# environ overrides, headers, status, the service's code). The request middleware answers the key, the
# spelling of the path, the method's case and the body's framing, size and coding; Flask's routing the
# 404s and 405s; the view the rest.
INVOCATION_REFUSALS = [
    ("no key", "/invocations", "POST", b"[]", {}, {"Authorization": ""}, 401, "unauthorized"),
    ("a wrong key", "/invocations", "POST", b"[]", {}, {"Authorization": "Bearer nope"}, 401, "unauthorized"),
    ("a trailing slash", "/invocations/", "POST", b"[]", {}, {}, 404, "not_found"),
    ("a path under it", "/invocations/x", "POST", b"[]", {}, {}, 404, "not_found"),
    ("GET", "/invocations", "GET", b"", {}, {}, 405, "method_not_allowed"),
    ("PUT", "/invocations", "PUT", b"[]", {}, {}, 405, "method_not_allowed"),
    ("a lowercase method", "/invocations", "post", b"[]", {}, {}, 400, "bad_request"),
    ("a Content-Length not a number", "/invocations", "POST", b"[]", {"CONTENT_LENGTH": "2x"}, {}, 400,
     "invalid_body"),
    ("a short body", "/invocations", "POST", b"[]", {"CONTENT_LENGTH": "9"}, {}, 400, "incomplete_body"),
    ("chunked", "/invocations", "POST", b"[]", {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"}, {},
     411, "length_required"),
    ("a body too large", "/invocations", "POST", b"[" + b"0," * 600 + b"0]", {}, {}, 413, "payload_too_large"),
    ("a batch too large", "/invocations", "POST", b"[" + b",".join([b"{}"] * (MAX_BATCH + 1)) + b"]", {}, {}, 413,
     "batch_too_large"),
    ("gzip", "/invocations", "POST", b"[]", {}, {"Content-Encoding": "gzip"}, 415, "unsupported_content_encoding"),
    ("text/plain", "/invocations", "POST", b"[]", {"CONTENT_TYPE": "text/plain"}, {}, 415, "unsupported_media_type"),
    ("latin-1", "/invocations", "POST", b"[]", {"CONTENT_TYPE": "application/json; charset=latin-1"}, {}, 415,
     "unsupported_media_type"),
    ("an answer type nobody offers", "/invocations", "POST", b"[]", {}, {"Accept": "image/png"}, 406,
     "not_acceptable"),
    ("not JSON", "/invocations", "POST", b"[", {}, {}, 400, "invalid_json"),
    ("a bad CSV", "/invocations", "POST", b"a,b\n", {"CONTENT_TYPE": "text/csv"}, {}, 400, "invalid_csv"),
    ("two forms", "/invocations", "POST", b'{"instances": [], "inputs": []}', {}, {}, 422, "invalid_request"),
    ("a fault", "/invocations", "POST", b"[{}]", {}, {}, 500, "internal_error"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "method", "body", "overrides", "headers", "status", "code"),
    [case[1:] for case in INVOCATION_REFUSALS],
    ids=[case[0] for case in INVOCATION_REFUSALS],
)
def test_every_refusal_of_invocations_has_mlflows_error_code_for_its_status(
    model: LoadedModel, monkeypatch: pytest.MonkeyPatch, path: str, method: str, body: bytes,
    overrides: dict[str, str], headers: dict[str, str], status: int, code: str,
) -> None:  # fmt: skip
    """Through the whole WSGI app, the request middleware included: MLflow's error_code of the status, and
    the service's own error object beside it."""
    app = create_app(Settings(api_keys=(SECURED_KEY,), max_batch=MAX_BATCH, max_body_bytes=1024), model)
    if code == "internal_error":
        monkeypatch.setattr(app.extensions["churn"], "score_rows", broken)
    sent = {"Authorization": f"Bearer {SECURED_KEY}", **headers}
    environ = wsgi_environ(method, path, body, **overrides)
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in sent.items() if value})
    seen: list[str] = []
    answer = orjson.loads(b"".join(app.wsgi_app(environ, lambda status, *_: seen.append(status))))
    assert int(seen[0][:3]) == status, answer
    assert answer["error_code"] == MLFLOW_NAMES[status], answer
    assert answer["error"]["code"] == code and answer["message"] == answer["error"]["message"]
    assert set(answer) == {"error_code", "message", "error"} and set(answer["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", "/v2/models/%C3%9C/ready", 404, "not_found"), ("GET", "/v2/models/churn/versions/a%20b", 404,
      "not_found"), ("POST", "/v2/models/-/infer", 404, "not_found"), ("GET", "/v2/nothing", 404, "not_found"),
     ("GET", "/v2/models/churn/infer", 405, "method_not_allowed"), ("POST", "/v2/health/live", 405,
      "method_not_allowed"), ("GET", "/invocations", 405, "method_not_allowed")],
)  # fmt: skip
def test_a_protocol_path_no_view_answers_is_refused_in_the_protocols_shape(
    client: Any, method: str, path: str, status: int, code: str
) -> None:
    """Routing's own refusals (a model name the route's converter refuses, a wrong method) included:
    a client of the protocol asked, and reads only the protocol's shape."""
    answer = client.open(path, method=method)
    assert answer.status_code == status
    assert protocol_error_code(path, answer.json) == code
    if status == 405:
        assert answer.headers["Allow"]


@pytest.mark.parametrize("path", [V2, "/invocations"])
def test_a_fault_inside_a_protocols_view_is_a_500_in_the_protocols_shape(
    model: LoadedModel, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(max_batch=MAX_BATCH), model)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug with a secret 4242 in its message")

    monkeypatch.setattr(app.extensions["churn"], "score_rows", broken)
    body = {"inputs": tensors([CUSTOMER], app.extensions["churn"])} if path == V2 else [CUSTOMER]
    answer = app.test_client().post(path, json=body)
    assert answer.status_code == 500
    assert protocol_error_code(path, answer.json) == "internal_error"
    assert b"4242" not in answer.data  # the details stay in the log


def test_the_middlewares_refusal_of_a_protocol_path_no_route_matches_is_in_the_protocols_shape(
    model: LoadedModel,
) -> None:
    secured = create_app(Settings(api_keys=("k" * 24,)), model).test_client()
    for path in ("/v2/models/%C3%9C/ready", "/v2/nothing"):
        answer = secured.get(path)
        assert answer.status_code == 401 and protocol_error_code(path, answer.json) == "unauthorized"
    assert secured.get("/nothing").json["error"]["code"] == "unauthorized"  # elsewhere, the service's shape


@pytest.mark.parametrize("length", [131_073, 1 << 19])  # past csv's default cell limit, within the body limit
@pytest.mark.parametrize("field", ["customerid", "contract", "tenure"])
def test_a_csv_cell_of_any_length_is_judged_in_its_row(
    client: Any, service: ChurnService, length: int, field: str
) -> None:
    """A long cell is that row's error, as /v1/predict gives it; the other rows are scored."""
    rows = [make_customer(customerid=f"c{i}") for i in range(3)]
    rows[1][field] = "x" * length
    body = "".join(csv_line(r) for r in rows).encode()
    answer = client.post("/invocations", data=body, content_type="text/csv")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.get_json()["predictions"] == expected(
        service, [{c: r.get(c) for c in features.EXPORT_COLUMNS} for r in rows]
    )


INTEGRAL_NUMBER_TEXT = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(0, 10**400).filter(lambda n: n > 2**64).map(str),  # past 64 bits, past a double too
    st.integers(-300, 300).map(lambda n: f"{n}.0"),
    st.sampled_from(["1e2", "0.0", "-0.0", "1E0", "2.0e1"]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=SLOW)
@given(field=st.sampled_from(["seniorcitizen", "tenure", "monthlycharges"]), text=INTEGRAL_NUMBER_TEXT)
def test_an_integral_number_in_an_int64_tensor_is_judged_as_on_predict(
    client: Any, service: ChurnService, field: str, text: str
) -> None:
    """JSON has one number type: any integral number is an integer of an INT64 tensor, and the contract
    judges it as /v1/predict does (an integer past 64 bits included), never a 400 for its type."""
    inputs = tensors([make_customer()], service)
    placeholder = 123456789
    for tensor in inputs:
        if tensor["name"] == field:
            tensor["datatype"], tensor["data"] = "INT64", [placeholder]
    body = json.dumps({"inputs": inputs}).replace(str(placeholder), text)
    v1_body = json.dumps({"customers": [make_customer(**{field: placeholder})]}).replace(str(placeholder), text)
    predictions = client.post("/v1/predict", data=v1_body, content_type="application/json").json["predictions"]
    v2 = v2_verdict(client.post(V2, data=body, content_type="application/json"))
    if "error" in predictions[0]:
        assert v2 == (422, [{"index": 0, "error": predictions[0]["error"]}])
    else:
        assert v2 == (200, [predictions[0]["churn_probability"]])


@pytest.mark.parametrize("outputs", [None, []], ids=["absent", "empty"])
def test_no_output_named_is_every_output(client: Any, service: ChurnService, outputs: list[Any] | None) -> None:
    request: dict[str, Any] = {"inputs": tensors([make_customer()], service)}
    if outputs is not None:
        request["outputs"] = outputs
    body = client.post(V2, json=request).json
    assert [o["name"] for o in body["outputs"]] == list(oip.OUTPUTS)
