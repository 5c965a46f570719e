"""The Open Inference Protocol's routes in the OpenAPI document: everything under /v2
(churn.server.protocols.oip).

Each shape comes from the module that reads or writes it: the model's name, inputs and outputs (oip, over
the customer contract), the tensors' datatypes (tensors), the batch limit from the settings. The request's
schema is as lenient as oip.read_inputs and says what a schema can; the rest (an input's data holds
shape[0] values, every input as many, one input per field) is in the descriptions. The errors are the
protocol's `{"error": message}` with the code and details of the service's `ErrorBody` beside the message
(`InferenceError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from churn.core.contract import Contract
from churn.server.openapi_parts import ERROR_STATUSES, REF, answers, error_schemas, errors, json_content, operation
from churn.server.protocols import oip, tensors

INFERENCE_ERRORS = {
    **ERROR_STATUSES,
    400: "The body is not valid JSON (`invalid_json`) or not an inference request this model takes "
    "(`invalid_request`: an input's shape, datatype or data, the outputs asked for)",
    404: "No such model or version here (`not_found`)",
    415: (
        "The body was not sent as application/json or Triton's application/octet-stream (`unsupported_media_type`), "
        "or in a content coding (`unsupported_content_encoding`)"
    ),
    422: "A customer failed validation (`validation_failed`): the request is refused whole, details has "
    "each refused row's index and error",
}


def schemas(contract: Contract, model_version: str, customer: Mapping[str, Any], max_batch: int) -> dict[str, Any]:
    """The bodies' schemas; `customer` (the model's reference customer) makes the inference request's example."""
    found = inference_schemas(contract, model_version, max_batch)
    found["InferenceRequest"]["example"] = inference_example(oip.metadata(contract, model_version), customer)
    return found


def inference_example(metadata: Mapping[str, Any], customer: Mapping[str, Any]) -> dict[str, Any]:
    """An inference request of one customer: each input the model's metadata lists, of its datatype."""
    inputs = [{**i, "shape": [1], "data": [customer[i["name"]]]} for i in metadata["inputs"]]
    return {"id": "example-1", "inputs": inputs}


def inference_schemas(contract: Contract, model_version: str, max_batch: int) -> dict[str, Any]:
    datatype = {"type": "string", "enum": sorted(tensors.DATATYPES)}
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {"name": {"type": "string"}, "datatype": datatype,
                       "shape": {"type": "array", "items": {"type": "integer"}}},
    }  # fmt: skip
    strings = {"type": "array", "items": {"type": "string"}}
    tensors_metadata = {"type": "array", "items": {"$ref": REF + "TensorMetadata"}}
    return {
        "ServerMetadata": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "extensions": strings},
            "example": oip.SERVER_METADATA,
        },
        "ServerLive": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
        "ServerReady": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
        "TensorMetadata": tensor,
        "ModelMetadata": {
            "type": "object",
            "required": ["name", "versions", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": strings,
                "platform": {"type": "string"},
                "inputs": tensors_metadata,
                "outputs": tensors_metadata,
            },
            "example": oip.metadata(contract, model_version),
        },
        "ModelReady": {
            "type": "object",
            "required": ["name", "ready"],
            "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
        },
        "InferenceRequest": inference_request(datatype, max_batch),
        "InferenceResponse": inference_response(),
        "InferenceError": inference_error(),
    }


def inference_request(datatype: dict[str, Any], max_batch: int) -> dict[str, Any]:
    """As lenient as oip.read_inputs: what a schema can say of an input (not that its data holds shape[0]
    values, nor that every input holds as many) is said here; the rest is in the descriptions."""
    # OpenAPI 3.0.3: an enum allows null only when it lists it, nullable or not (and null means "not given").
    content_type = {"type": "string", "enum": [*sorted(oip.CONTENT_TYPES), None], "nullable": True}
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "description": "A field, as the model or the CRM export names it"},
            "datatype": datatype,
            "shape": {"type": "array", "minItems": 1, "maxItems": 2,
                      "items": {"type": "integer", "minimum": 0, "maximum": max_batch},
                      "description": "[n] or [n, 1]: one value per customer"},
            "parameters": {"type": "object", "properties": {
                "content_type": content_type,
                "binary_data_size": {"type": "integer", "minimum": 0, "nullable": True,
                                     "description": "Its bytes in the binary data after the JSON, instead of data"}}},
            "data": {"description": "n values of the datatype (strings for BYTES), null where a customer's value is "
                                    "missing, flat or nested as the shape"},
        },
    }  # fmt: skip
    output = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "enum": list(oip.OUTPUTS)},
            "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}},
        },
    }
    table = {"type": "string", "enum": ["pd", None], "nullable": True, "description": "MLServer's pandas codec"}
    return {
        "type": "object",
        "required": ["inputs"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "nullable": True, "description": "Echoed in the answer"},
            "parameters": {"type": "object", "properties": {"content_type": table,
                                                             "binary_data_output": {"type": "boolean"}}},
            "inputs": {"type": "array", "minItems": 1, "items": tensor,
                       "description": "One input per field of GET /v2/models/churn, each of n values"},
            "outputs": {"type": "array", "items": output, "uniqueItems": True, "nullable": True,
                        "description": "The outputs to answer, in order (both when left out)"},
        },
    }  # fmt: skip


def inference_response() -> dict[str, Any]:
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string", "enum": list(oip.OUTPUTS)},
            "datatype": {"type": "string", "enum": sorted(set(oip.OUTPUTS.values()))},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1, "maxItems": 1},
            "data": {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "boolean"}]}},
            "parameters": {"type": "object", "properties": {"binary_data_size": {"type": "integer"}}},
        },
    }
    return {
        "type": "object",
        "required": ["model_name", "model_version", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": tensor},
        },
    }


def inference_error() -> dict[str, Any]:
    """The protocol's {"error": message}, with the code and details of the service's ErrorBody beside it."""
    body = error_schemas()["ErrorBody"]["properties"]
    refused_rows = {
        "type": "array",
        "items": {"type": "object", "required": ["index", "error"],
                  "properties": {"index": {"type": "integer"}, "error": {"$ref": REF + "ErrorBody"}}},
    }  # fmt: skip
    return {
        "type": "object",
        "required": ["error", "code", "details"],
        "properties": {
            "error": {"type": "string", "description": "The message"},
            "code": body["code"],
            "details": {
                "anyOf": [*body["details"]["anyOf"], refused_rows],
                "description": body["details"]["description"] + "; for validation_failed, the refused rows",
            },
        },
    }


def paths(model_version: str, secured: bool) -> dict[str, Any]:
    def op(path: str, operation_id: str, summary: str, **fields: Any) -> dict[str, Any]:
        return operation(path, secured, "InferenceError", operationId=operation_id, summary=summary, **fields)

    paths: dict[str, Any] = {
        "/v2": {"get": op("/v2", "getServerMetadata", "The server's metadata",
                          responses=answers("OK", "ServerMetadata"))},
        "/v2/health/live": {"get": op("/v2/health/live", "getServerLive", "The server is live",
                                      responses=answers("Live", "ServerLive"))},
        "/v2/health/ready": {"get": op("/v2/health/ready", "getServerReady", "The model passes its self-test",
                                       responses=answers("Ready", "ServerReady", 400))},
    }  # fmt: skip
    name = {
        "name": "model_name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [oip.MODEL_NAME]},
    }
    version = {"name": "model_version", "in": "path", "required": True,
               "schema": {"type": "string", "enum": [model_version]}}  # fmt: skip
    for prefix, parameters, suffix in (
        ("/v2/models/{model_name}", [name], ""),
        ("/v2/models/{model_name}/versions/{model_version}", [name, version], "Version"),
    ):
        missing = errors(404, said=INFERENCE_ERRORS, schema="InferenceError")
        paths[prefix] = {
            "get": op(
                prefix,
                f"getModel{suffix}Metadata",
                "The model's inputs and outputs",
                parameters=parameters,
                responses={**answers("OK", "ModelMetadata"), **missing},
            )
        }
        paths[prefix + "/ready"] = {
            "get": op(
                prefix + "/ready",
                f"getModel{suffix}Ready",
                "The model is ready",
                parameters=parameters,
                responses={**answers("Ready", "ModelReady", 400), **missing},
            )
        }
        paths[prefix + "/infer"] = {"post": op(prefix + "/infer", f"infer{suffix}", "Score customers as tensors",
                                               parameters=parameters, **infer_fields())}  # fmt: skip
    return paths


def infer_fields() -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "description": "One input per field, row i of every input being customer i; the outputs are "
        f"churn_probability and churn. Triton's binary tensor data is taken too: `{oip.BINARY}`, the JSON "
        f"header's length in `{oip.HEADER_LENGTH}`, each input's bytes after it (`parameters.binary_data_size`); "
        "binary outputs (`binary_data_output`) are answered the same way.",
        "requestBody": {"required": True, "content": json_content("InferenceRequest")},
        "responses": {
            "200": {
                "description": "The outputs",
                "content": {**json_content("InferenceResponse"), oip.BINARY: binary},
                "headers": {oip.HEADER_LENGTH: {"description": "With binary outputs: the JSON header's length",
                                                "schema": {"type": "integer"}}},
            },
            **errors(400, 404, 413, 415, 422, 500, said=INFERENCE_ERRORS, schema="InferenceError"),
        },
    }  # fmt: skip
