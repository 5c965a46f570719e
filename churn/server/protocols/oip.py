"""The Open Inference Protocol V2 (KServe, MLServer, Triton) over HTTP: the model is "churn".

GET  /v2                                        server metadata (extensions: binary_tensor_data)
GET  /v2/health/live, /v2/health/ready          liveness; readiness is the model's golden self-test (open)
GET  /v2/models/churn[/versions/<v>]            the model's inputs and outputs
GET  /v2/models/churn[/versions/<v>]/ready      the model's readiness (open)
POST /v2/models/churn[/versions/<v>]/infer      one input per field, one value per customer

An inference request has one input per field of the customer contract, named as the model or the CRM
export names it (`Contract` or `contract`): BYTES for categories, INT64 for seniorcitizen, FP64 (or any
number type) for the numbers, each of shape [n] or [n, 1] (churn.server.protocols.tensors), in JSON or
Triton's binary data. `parameters.content_type: "pd"` (MLServer's PandasCodec) is accepted. Row i of
every input is customer i: the rows go through ChurnService.score_rows like /v1/predict's customers.
The outputs are churn_probability (FP64) and churn (BOOL), shape [n], in JSON or binary as asked
(`parameters.binary_data_output`, or an output's `binary_data`); the request's id is echoed.

A tensor cannot hold an error in place of a value, so a request with a customer the contract refuses is
answered 422 `validation_failed`, with each refused row's index and error in `details`. Errors have the
protocol's shape, `{"error": message}`, with the service's code and details beside the message.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeGuard

import orjson
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.routing import BaseConverter

from churn.core import features, jsonkeys
from churn.core.contract import CategoryField, Contract, FlagField, json_type
from churn.core.service import ChurnService
from churn.errors import ApiError, Code
from churn.server.api import API_VERSION, check_charset, content_type, parse_json
from churn.server.protocols import tensors
from churn.server.protocols.tensors import invalid
from churn.server.wsgi import JSON, ROWS_KEY

bp = Blueprint("oip", __name__, url_prefix="/v2")
MODEL_NAME = "churn"
OUTPUTS = {"churn_probability": "FP64", "churn": "BOOL"}
REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs"})
INPUT_KEYS = frozenset({"name", "shape", "datatype", "parameters", "data"})
CONTENT_TYPES = frozenset({"pd", "np", "str"})  # MLServer's codecs of tables, arrays and strings
HEADER_LENGTH = "Inference-Header-Content-Length"  # Triton's binary data: the JSON header's length
BINARY = "application/octet-stream"
BODY_TYPES = frozenset({"", JSON, BINARY})  # tritonclient sends no Content-Type
SERVER_METADATA = {"name": "churn-serving", "version": API_VERSION, "extensions": ["binary_tensor_data"]}


class ModelName(BaseConverter):
    """A model name or version segment: a path with anything else in its place matches no route (404)."""

    regex = "[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"


def init_app(app: Flask) -> None:
    app.url_map.converters["model"] = ModelName
    app.register_blueprint(bp)


def service() -> ChurnService:
    svc: ChurnService = current_app.extensions["churn"]
    return svc


def protocol_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype=JSON)


def error_body(e: ApiError) -> dict[str, Any]:
    """The protocol's error, {"error": message}, with the service's code and details beside it."""
    return {"error": e.message, "code": e.code, "details": e.details}


@bp.errorhandler(ApiError)
def oip_error(e: ApiError) -> Response:
    return protocol_response(error_body(e), e.status)


@bp.get("")
def server_metadata() -> Response:
    return protocol_response(SERVER_METADATA)


@bp.get("/health/live")
def live() -> Response:
    return protocol_response({"live": True})


@bp.get("/health/ready")
def ready() -> Response:
    passed = bool(service().model.self_test()["passed"])
    return protocol_response({"ready": passed}, 200 if passed else 400)  # the protocol: 4xx when not ready


@bp.get("/models/<model:model_name>")
@bp.get("/models/<model:model_name>/versions/<model:model_version>")
def model_metadata(model_name: str, model_version: str | None = None) -> Response:
    svc = checked_model(model_name, model_version)
    return protocol_response(metadata(svc.contract, svc.model.version))


def metadata(contract: Contract, version: str) -> dict[str, Any]:
    """The model's metadata: one input per field of the contract, the outputs (the OpenAPI document shows it too)."""
    inputs = [{"name": name, "datatype": datatype(contract.fields[name]), "shape": [-1]} for name in features.FIELDS]
    outputs = [{"name": name, "datatype": kind, "shape": [-1]} for name, kind in OUTPUTS.items()]
    return {"name": MODEL_NAME, "versions": [version], "platform": "sklearn", "inputs": inputs, "outputs": outputs}


@bp.get("/models/<model:model_name>/ready")
@bp.get("/models/<model:model_name>/versions/<model:model_version>/ready")
def model_ready(model_name: str, model_version: str | None = None) -> Response:
    passed = bool(checked_model(model_name, model_version).model.self_test()["passed"])
    return protocol_response({"name": MODEL_NAME, "ready": passed}, 200 if passed else 400)


@bp.post("/models/<model:model_name>/infer")
@bp.post("/models/<model:model_name>/versions/<model:model_version>/infer")
def infer(model_name: str, model_version: str | None = None) -> Response:
    svc = checked_model(model_name, model_version)
    if request.mimetype not in BODY_TYPES:
        raise ApiError(415, Code.UNSUPPORTED_MEDIA_TYPE, f"send the inference request as {JSON} (or Triton's binary)")
    check_charset(content_type())
    header, binary = split_body(request.get_data(cache=False), request.headers.get(HEADER_LENGTH))
    payload = parse_json(header)
    request_id, binary_output = request_options(payload)
    columns, n = read_inputs(payload.get("inputs"), binary)
    outputs = requested_outputs(payload.get("outputs"), binary_output)
    svc.check_batch_size(n)
    request.environ[ROWS_KEY] = n
    names = list(columns)
    predictions = svc.score_rows([dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)])
    rows = predictions["predictions"]
    refused = [{"index": r["index"], "error": r["error"]} for r in rows if "error" in r]
    if refused:
        message = f"{len(refused)} of {n} customers failed validation (the first: row {refused[0]['index']}: "
        raise ApiError(422, Code.VALIDATION_FAILED, message + refused[0]["error"]["message"] + ")", refused)
    values = {"churn_probability": [r["churn_probability"] for r in rows], "churn": [r["churn"] for r in rows]}
    return answer(svc, request_id, outputs, values)


def checked_model(model_name: str, model_version: str | None) -> ChurnService:
    svc = service()
    if model_name != MODEL_NAME:
        raise ApiError(404, Code.NOT_FOUND, f"no model {model_name[:60]!r} here: this server serves {MODEL_NAME!r}")
    if model_version is not None and model_version != svc.model.version:
        message = f"no version {model_version[:60]!r} of {MODEL_NAME}: it is {svc.model.version}"
        raise ApiError(404, Code.NOT_FOUND, message)
    return svc


def datatype(spec: Any) -> str:
    return "BYTES" if isinstance(spec, CategoryField) else "INT64" if isinstance(spec, FlagField) else "FP64"


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary data after it (Triton's binary tensor data extension)."""
    if header_length is None:
        return body, b""
    if not (header_length.isascii() and header_length.isdigit()) or int(header_length) > len(body):
        raise invalid(f"{HEADER_LENGTH} must be a number of bytes within the body")
    return body[: int(header_length)], body[int(header_length) :]


def request_options(payload: Any) -> tuple[str | None, bool]:
    """The request's id and whether outputs are binary by default; refuses a request of another shape."""
    if type(payload) is not dict:
        raise invalid(f"the inference request must be a JSON object, got {json_type(payload)}")
    repeated = sorted(k for k in REQUEST_KEYS if jsonkeys.repeated(payload, k))
    unknown = sorted(set(payload) - REQUEST_KEYS)
    if repeated or unknown:
        raise invalid(f"unknown or repeated request fields: {', '.join(repeated + unknown)}")
    request_id = payload.get("id")
    if request_id is not None and type(request_id) is not str:
        raise invalid("the request id must be a string")
    parameters = parameters_of(payload, "the request")
    if parameters.get("content_type") not in (None, "pd"):
        raise invalid('the request content_type may only be "pd": the inputs are the columns of a table')
    binary_output = parameters.get("binary_data_output", False)
    if type(binary_output) is not bool:
        raise invalid("binary_data_output must be true or false")
    return request_id, binary_output


def parameters_of(item: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = item.get("parameters", {})
    if type(parameters) is not dict:
        raise invalid(f"the parameters of {where} must be an object")
    if any(str(k).startswith("shared_memory") for k in parameters):
        raise invalid("shared memory is not supported: send the data in the request")
    return parameters


def read_inputs(inputs: Any, binary: bytes) -> tuple[dict[str, list[Any]], int]:
    """Each input's values by name, and the number of customers (the same for every input)."""
    if type(inputs) is not list or not inputs:
        raise invalid("inputs must be a non-empty array of tensors, one per field")
    columns: dict[str, list[Any]] = {}
    offset = 0
    for tensor in inputs:
        name, values, used = read_input(tensor, binary[offset:])
        if name in columns:
            raise invalid(f"input {name} is given twice")
        columns[name] = values
        offset += used
    if offset != len(binary):
        raise invalid(f"{len(binary) - offset} bytes of binary data belong to no input")
    sizes = {len(v) for v in columns.values()}
    if len(sizes) > 1:
        raise invalid("every input must hold one value per customer: their shapes differ")
    return columns, sizes.pop()


def read_input(tensor: Any, binary: bytes) -> tuple[str, list[Any], int]:
    """One input's name, values, and how many bytes of the binary data it took."""
    if type(tensor) is not dict or type(tensor.get("name")) is not str or not INPUT_KEYS.issuperset(tensor):
        raise invalid("each input must be an object with a name, shape, datatype and data")
    name = tensor["name"][:60]
    kind = tensor.get("datatype")
    if not one_of(kind, tensors.DATATYPES):
        raise invalid(f"input {name}: datatype must be one of {', '.join(sorted(tensors.DATATYPES))}")
    n = tensors.rows_of(name, tensor.get("shape"))
    parameters = parameters_of(tensor, f"input {name}")
    if parameters.get("content_type") not in (None, *CONTENT_TYPES):
        raise invalid(f"input {name}: content_type must be one of {', '.join(sorted(CONTENT_TYPES))}")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in tensor:
            raise invalid(f"input {name} has no data")
        values = tensors.json_values(name, tensor["data"], tensor["shape"])
        return tensor["name"], tensors.check_json_values(name, kind, values, n), 0
    if type(size) is not int or not 0 <= size <= len(binary) or "data" in tensor:
        raise invalid(f"input {name}: binary_data_size must count bytes of the binary data, with no JSON data")
    return tensor["name"], tensors.binary_values(name, kind, binary[:size], n), size


def one_of(value: Any, names: Collection[str]) -> TypeGuard[str]:
    """Whether a JSON value is one of these names: an object or an array is none (and cannot be hashed)."""
    return type(value) is str and value in names


def requested_outputs(outputs: Any, binary_output: bool) -> list[tuple[str, bool]]:
    """The outputs to answer, in order, each with whether its data is binary."""
    if outputs is None or outputs == []:  # none named: every output (as KServe and Triton read an empty list)
        return [(name, binary_output) for name in OUTPUTS]
    if type(outputs) is not list or not all(type(o) is dict and one_of(o.get("name"), OUTPUTS) for o in outputs):
        raise invalid(f"outputs must be an array of objects naming {' or '.join(OUTPUTS)}")
    if len({o["name"] for o in outputs}) != len(outputs):
        raise invalid("an output is asked for twice")
    chosen = []
    for output in outputs:
        binary = parameters_of(output, f"output {output['name']}").get("binary_data", binary_output)
        if type(binary) is not bool:
            raise invalid("binary_data must be true or false")
        chosen.append((output["name"], binary))
    return chosen


def answer(svc: ChurnService, request_id: str | None, outputs: list[tuple[str, bool]], values: Any) -> Response:
    tensors_out, blobs = [], []
    for name, binary in outputs:
        tensor: dict[str, Any] = {"name": name, "datatype": OUTPUTS[name], "shape": [len(values[name])]}
        if binary:
            data = tensors.output_bytes(OUTPUTS[name], values[name])
            tensor["parameters"] = {"binary_data_size": len(data)}
            blobs.append(data)
        else:
            tensor["data"] = values[name]
        tensors_out.append(tensor)
    body: dict[str, Any] = {"model_name": MODEL_NAME, "model_version": svc.model.version, "outputs": tensors_out}
    if request_id is not None:
        body["id"] = request_id
    head = orjson.dumps(body)
    if not blobs:
        return Response(head, mimetype=JSON)
    return Response(head + b"".join(blobs), mimetype=BINARY, headers={HEADER_LENGTH: str(len(head))})
