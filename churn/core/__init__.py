"""The model and its customer contract, free of HTTP, queues and files: what every other package builds on.

It owns what a valid customer is (contract, validation, columns), how the model is trained, verified
and compiled (training, model, scoring), what a score means (explain: percentiles and reason codes;
drift: how far recent inputs are from training), and ChurnService, scoring as the API offers it.
It imports nothing from churn.server, churn.jobs or churn.campaign, nor Flask, Arrow or Redis
(an import-linter contract in pyproject.toml, checked in CI).
"""
