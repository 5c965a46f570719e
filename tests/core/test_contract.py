"""Every path gives the customer contract's verdict: the per-row validator (the reference), the column-wise
batch path, the HTTP fast path, the offline CSV engine and the OpenAPI schema, on records generated over
the whole input domain (tests/support/strategies.py), not only the values training saw."""

from __future__ import annotations

import csv
import math
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema_rs
import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from werkzeug.serving import make_server

from churn import ChurnClient
from churn.campaign.client import ServiceClient
from churn.campaign.offline.engine import score_csv
from churn.campaign.rows import parse_json_line, read_rows
from churn.campaign.scorers import online_scorer
from churn.config import Settings
from churn.core import features, grammar, jsonkeys
from churn.core.contract import Contract, NumberField
from churn.core.model import LoadedModel
from churn.core.service import ChurnService
from churn.core.validation import InvalidCustomer
from churn.errors import Code
from churn.server import openapi
from churn.server.app import create_app
from tests.conftest import PROJECT, make_customer
from tests.server.test_fastpath import call
from tests.support import strategies
from tests.support.output_spec import expected_csv

SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]


@pytest.fixture(scope="module")
def service(model: LoadedModel) -> ChurnService:
    return ChurnService(model)


@pytest.fixture(scope="module")
def contract(service: ChurnService) -> Contract:
    return service.contract


@pytest.fixture(scope="module")
def http_app(model: LoadedModel) -> Any:
    return create_app(Settings(max_batch=50, max_body_bytes=1 << 20), model)


def reference(service: ChurnService, row: Any, explain: int = 0) -> dict[str, Any]:
    """One row's prediction built from the per-row validator and the one-customer scorer only."""
    try:
        customer, customerid = service.validator.validate(row)
    except InvalidCustomer as e:
        error = {"code": Code.VALIDATION_FAILED, "message": str(e), "details": e.details()}
        return {"customerid": e.customerid, "error": error}
    probability = service.scorer.probability(customer)
    out: dict[str, Any] = {
        "customerid": customerid,
        "churn_probability": probability,
        "churn": probability >= service.threshold,
        "percentile": float(service.model.explainer.percentiles(np.array([probability]))[0]),
    }
    out.update(service.model.explainer.reasons(customer, explain, explain) if explain else {})
    warnings = service.contract.warnings(customer)
    if warnings:
        out["warnings"] = [w.as_dict() for w in warnings]
    return out


def json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema (draft 4): `nullable: true` becomes a null alternative."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: json_schema(v) for k, v in schema.items() if k != "nullable"}
    return {"anyOf": [out, {"type": "null"}]} if schema.get("nullable") else out


def schema_validator(schema: Any) -> Any:
    """A validator of an OpenAPI 3.0 schema. OpenAPI 3.0 leaves open whether 12.0 is an "integer" (JSON Schema
    draft 4 says no, draft 6 and later, and schemathesis, say yes): the service takes the later reading, so
    the schema is checked as draft 7, which reads every other keyword used here as draft 4 does."""
    return jsonschema_rs.Draft7Validator(json_schema(schema))


def without_index(predictions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in p.items() if k != "index"} for p in predictions]


def as_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW)
@given(data=st.data(), explain=st.integers(0, 3))
def test_the_batch_path_gives_the_per_row_verdict(service: ChurnService, data: Any, explain: int) -> None:
    rows = data.draw(st.lists(strategies.records(service.contract), max_size=10))
    result = service.score_rows(rows, explain=explain, explain_down=explain)
    assert without_index(result["predictions"]) == [reference(service, row, explain) for row in rows]
    assert [p["index"] for p in result["predictions"]] == list(range(len(rows)))


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_http_answers_the_per_row_verdict_through_both_paths(http_app: Any, data: Any) -> None:
    app = http_app
    rows = data.draw(st.lists(strategies.records(app.extensions["churn"].contract), max_size=6))
    body = jsonkeys.dumps({"customers": rows})  # as the clients send them: NaN, Infinity, integers of any size
    fast = app.wsgi_app.app  # inside the request middleware
    answer = call(fast, body, "/v1/predict")
    assert answer == call(fast.flask_app, body, "/v1/predict")
    service = app.extensions["churn"]
    parsed = jsonkeys.loads(body)["customers"]
    assert without_index(orjson.loads(answer[2])["predictions"]) == [reference(service, r) for r in parsed]
    lines = [parse_json_line(jsonkeys.dumps(row).decode(), 1) for row in rows]  # campaign.py's JSON Lines
    assert [reference(service, r) for r in lines] == [reference(service, r) for r in parsed]
    for row in parsed:  # /predict: the same verdict, the book's two keys only
        status, _, single, _ = call(fast, jsonkeys.dumps(row), "/predict")
        want = reference(service, row)
        if "error" in want:
            assert (status, orjson.loads(single)["error"]["message"]) == (
                "422 UNPROCESSABLE ENTITY",
                want["error"]["message"],
            )
        else:
            assert orjson.loads(single) == {"churn_probability": want["churn_probability"], "churn": want["churn"]}


NUMBER_FIELDS = (*features.NUMERICAL, *features.FLAG_FIELDS, features.ID_FIELD, "extra")  # extra: not the model's


@pytest.fixture(scope="module")
def served(http_app: Any) -> Iterator[str]:
    """http_app over real HTTP, for the clients (campaign.py --url's scorer, ChurnClient)."""
    server = make_server("127.0.0.1", 0, http_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def verdict(prediction: dict[str, Any]) -> tuple[str, Any]:
    """A batch row's verdict: its error message (the codes and fields) or its probability."""
    if "error" in prediction:
        return "error", prediction["error"]["message"]
    return "scored", prediction["churn_probability"]


def customer_text(field: str, text: str) -> bytes:
    """The reference customer's JSON text with field's value written as `text`, verbatim."""
    rest = orjson.dumps({k: v for k, v in make_customer().items() if k != field})
    return rest[:-1] + b"," + orjson.dumps(field) + b":" + text.encode() + b"}"


def predict_verdict(wsgi: Any, body: bytes) -> tuple[str, Any]:
    status, _, answer, _ = call(wsgi, body, "/predict")
    if status.startswith("422"):
        return "error", orjson.loads(answer)["error"]["message"]
    assert status.startswith("200"), (status, answer[:200])
    return "scored", orjson.loads(answer)["churn_probability"]


def engine_verdicts(service: ChurnService, folder: Path, cells: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    """The offline CSV engine's verdict on each customer with one cell's text replaced."""
    customer = make_customer(extra="")
    source, target = folder / "numbers.csv", folder / "numbers-out.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(customer), lineterminator="\n")
        writer.writeheader()
        writer.writerows({**customer, field: text} for field, text in cells)
    score_csv(source, target, service, explain=0)  # raises if the engine gave up
    with target.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [
        ("error", r["error"].removeprefix("validation_failed: "))
        if r["error"]
        else ("scored", float(r["churn_probability"]))
        for r in rows
    ]


@st.composite
def number_cases(draw: Any) -> tuple[str, str, bool]:
    """(field, the text of a number of the whole domain, whether it is sent as a JSON string instead)."""
    return draw(st.sampled_from(NUMBER_FIELDS)), draw(strategies.json_number_texts()), draw(st.booleans())


def in_memory(service: ChurnService, values: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The verdicts of score_rows on the reference customer with each (field, value) set."""
    return [verdict(p) for p in service.score_rows([make_customer() | {f: v} for f, v in values])["predictions"]]


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(cases=st.lists(number_cases(), min_size=1, max_size=6))
def test_a_number_gets_one_verdict_on_every_path(
    http_app: Any, served: str, tmp_path: Path, cases: list[tuple[str, str, bool]]
) -> None:
    """/predict and /v1/predict (both paths), campaign.py's JSON Lines offline and through the service,
    ChurnClient and the offline CSV engine judge a number as its text means (strategies.number_read)."""
    service: ChurnService = http_app.extensions["churn"]
    want = in_memory(service, [(f, t if quoted else strategies.number_read(t)) for f, t, quoted in cases])
    bodies = [customer_text(f, orjson.dumps(t).decode() if quoted else t) for f, t, quoted in cases]
    fast = http_app.wsgi_app.app
    for wsgi in (fast, fast.flask_app):
        assert [predict_verdict(wsgi, b) for b in bodies] == want
        batch = b'{"customers":[' + b",".join(bodies) + b"]}"
        assert [verdict(p) for p in orjson.loads(call(wsgi, batch, "/v1/predict")[2])["predictions"]] == want
    jsonl = tmp_path / "numbers.jsonl"
    jsonl.write_bytes(b"".join(b + b"\n" for b in bodies))
    assert [verdict(p) for p in service.score_rows(list(read_rows(jsonl)))["predictions"]] == want  # --offline
    online = online_scorer(ServiceClient(served), 0)(list(read_rows(jsonl)))  # --url
    assert [verdict(p) for p in online["predictions"]] == want
    records = [make_customer() | {f: t if quoted else strategies.python_number(t)} for f, t, quoted in cases]
    scored = ChurnClient(served).predict(records)  # the Python numbers the texts write, however long
    got = [
        ("scored", r.churn_probability) if pd.isna(r.error_code) else ("error", r.error_message)
        for r in scored.itertuples()
    ]
    assert got == want
    texts = [(f, t) for f, t, _ in cases]  # a CSV cell is text: judged as the JSON string of it is
    assert engine_verdicts(service, tmp_path, texts) == in_memory(service, texts)


CSV_SAFE = st.characters(blacklist_characters='",\r\n', blacklist_categories=("Cs",))


@st.composite
def csv_rows(draw: Any, contract: Contract) -> tuple[list[str], list[list[str]]]:
    """A CSV table of text cells only (what a file holds), with a header in raw or model spellings."""
    names = [features.ID_FIELD, *contract.fields]
    header = [draw(st.sampled_from([n, n.upper(), n.capitalize()])) for n in names]
    # sometimes a column is missing (a header without any model field is left to the Python reader)
    keep = [i for i in range(len(names)) if draw(st.integers(0, 30)) != 0 or i == 1]
    header = [header[i] for i in keep] + ["Churn"]
    rows = []
    for _ in range(draw(st.integers(1, 30))):
        cells = []
        for i in keep:
            spec = contract.fields.get(names[i])
            text = strategies.customerids(text_only=True) if spec is None else strategies.values(spec, text_only=True)
            cells.append(draw(text).translate({ord(c): None for c in '",\r\n'}))
        rows.append([*cells, "No"])
    return header, rows


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(data=st.data(), explain=st.sampled_from([0, 2]))
def test_the_offline_engine_writes_the_per_row_verdict(
    service: ChurnService, tmp_path: Path, data: Any, explain: int
) -> None:
    header, rows = data.draw(csv_rows(service.contract))
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows([header, *rows])
    score_csv(source, target, service, explain=explain, chunk_bytes=2048)  # raises if the engine gave up
    with source.open(newline="", encoding="utf-8") as f:
        want = [reference(service, row, explain) for row in csv.DictReader(f)]
    for prediction in want:
        prediction.pop("reasons_down", None)
    assert target.read_bytes() == expected_csv(want)


@settings(max_examples=400, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_the_openapi_schema_gives_the_same_verdict(model: LoadedModel, service: ChurnService, data: Any) -> None:
    schema = openapi.build(model, 100, secured=False)["components"]["schemas"]["Customer"]
    record = data.draw(strategies.records(service.contract, canonical_keys=True))
    try:
        body = orjson.dumps(record)
    except TypeError:
        body = b""  # integers beyond 64 bits: still a JSON value, which jsonschema_rs checks below
    assume(b"NaN" not in body and b"Infinity" not in body)
    floats = [v for v in (record.values() if isinstance(record, dict) else ()) if isinstance(v, float)]
    assume(all(math.isfinite(v) for v in floats))  # not JSON
    valid = schema_validator(schema).is_valid(record)
    assert valid == ("error" not in reference(service, record)), record


@pytest.mark.parametrize("field", [*features.CATEGORICAL, *features.NUMERICAL])
def test_each_fields_text_pattern_is_its_check(contract: Contract, field: str) -> None:
    spec = contract.fields[field]
    schema = schema_validator(spec.schema())

    @settings(max_examples=400, deadline=None)
    @given(strategies.values(spec, text_only=True))
    def check(text: str) -> None:
        assert schema.is_valid(text) == (spec.check(text)[1] is None), repr(text)

    check()


@pytest.mark.parametrize("field", features.NUMERICAL)
def test_numbers_are_accepted_exactly_within_the_accepted_range(contract: Contract, field: str) -> None:
    spec = contract.fields[field]
    assert isinstance(spec, NumberField)
    schema = schema_validator(spec.schema())

    @settings(max_examples=400, deadline=None)
    @given(strategies.numbers(spec))
    def check(value: Any) -> None:
        checked, error = spec.check(value)
        accepted = error is None
        if isinstance(value, float) and math.isnan(value):  # a missing value: 0 for totalcharges, as a blank
            assert (checked, accepted) == ((0.0, True) if spec.blank is not None else (None, False))
            assert spec.accepts_array(np.array([value])).tolist() == [False]  # the per-row validator's to decide
            return
        low, high = spec.accepted
        assert accepted == (low <= value <= high)
        assert spec.accepts_array(np.array([as_float(value)])).tolist() == [accepted]
        if not (isinstance(value, float) and not math.isfinite(value)):
            assert schema.is_valid(value) == accepted
        if accepted:
            flagged = spec.warning(as_float(value)) is not None
            assert spec.outside_training(np.array([as_float(value)])).tolist() == [flagged]
            assert flagged == (not spec.training[0] <= value <= spec.training[1])

    check()


def test_the_accepted_range_widens_the_training_range_by_the_tolerance(model: LoadedModel) -> None:
    ranges = model.metadata["numeric_ranges"]
    for tolerance in (0.0, 0.25, 1.0, 3.0):
        for spec in model.contract(tolerance).numbers:
            low, high = ranges[spec.name]["min"], ranges[spec.name]["max"]
            margin = tolerance * (high - low)
            assert spec.accepted == (max(0, math.floor(low - margin)), math.ceil(high + margin))
            assert spec.training == (low, high)


def test_python_text_rules_lie_in_the_basic_multilingual_plane() -> None:
    """grammar.python_text_rules reads only the BMP: no other character is white space or lowers to one."""
    beyond = [
        c
        for c in map(chr, range(0x10000, 0x110000))
        if c.isspace() or (len(c.lower()) == 1 and c.lower() < "\U00010000")
    ]
    assert beyond == []


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789.+-eE_x \t\u00a0\u0664"), max_size=8))
def test_the_numeral_grammar_is_what_float_reads_minus_the_extras(text: str) -> None:
    """A numeral is text float() reads, without exponent, "_", other digits or non-ASCII padding."""
    try:
        float(text)
        readable = True
    except ValueError:
        readable = False
    extras = any(c in text for c in "eE_x\u00a0\u0664")
    assert grammar.is_numeral(text) == (readable and not extras)


def test_the_api_doc_states_the_accepted_ranges_of_the_committed_model(contract: Contract) -> None:
    doc = " ".join((PROJECT / "docs" / "api.md").read_text().split())
    tenure, monthly, total = (f"{int(s.accepted[0])}-{int(s.accepted[1])}" for s in contract.numbers)
    assert f"tenure {tenure}, monthly charges {monthly} and total charges {total}" in doc


BLANKS = ["", " ", "\t", "\u00a0"]


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("field", [f for f in features.CATEGORICAL if f not in features.FLAG_FIELDS])
def test_a_blank_category_is_missing_in_every_path(
    model: LoadedModel, service: ChurnService, tmp_path: Path, field: str, blank: str
) -> None:
    """One rule, in the contract: the per-row validator, the batch path, the offline engine and the OpenAPI
    schema all refuse a blank category, and as a missing field."""
    row = {**make_customer(customerid="c-1"), field: blank}
    want = reference(service, row)
    assert [(d["field"], d["code"]) for d in want["error"]["details"]] == [(field, "missing_field")]
    assert without_index(service.score_rows([row, row])["predictions"]) == [want, want]
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(row), lineterminator="\n")
        writer.writeheader()
        writer.writerows([row] * 3)
    score_csv(source, target, service, explain=0, chunk_bytes=2048)
    assert target.read_bytes() == expected_csv([want] * 3)
    schema = openapi.build(model, 100, secured=False)["components"]["schemas"]["Customer"]
    assert not schema_validator(schema).is_valid(row)
