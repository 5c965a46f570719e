"""Churn model serving: the book's DictVectorizer + LogisticRegression, trained, verified and served.

Modules, each owning one job:
    features  the model's input fields and the book's text normalization
    training  fit, evaluate and describe the model (used by train.py)
    model     load the committed model, verify it, compile it for fast scoring
    scoring   the compiled scorer: probabilities, percentiles, reason codes
    contract  what a valid customer is, field by field: every path's checks and the OpenAPI schema
    schemas   validation of customer records one at a time, by the contract
    errors    the error vocabulary shared by the API and its clients
    config    settings read once from the environment
    api, app  the Flask service
"""
