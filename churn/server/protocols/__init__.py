"""The protocols ML clients already speak, as thin adapters over the one scoring path (ChurnService).

mlflow     POST /invocations: MLflow's JSON forms, CSV and JSON Lines (also SageMaker's invocations)
sagemaker  SageMaker's container contract: `serve` on port 8080, GET /execution-parameters
oip        the Open Inference Protocol V2 of KServe, MLServer and Triton under /v2 (tensors: its data)
formats    the media types /invocations reads and answers in (and the CSV reader of /v1/jobs too)

Each parses its payload into customer records, lets ChurnService judge and score them (the customer
contract, the batch limit, the metrics observer), and shapes the answer; the request middleware gives
every route the same auth, body reader, request log line and HTTP metrics.
"""
