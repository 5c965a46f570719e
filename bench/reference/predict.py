"""The book's churn service, written from its description (Machine Learning Bookcamp, chapter 5).

Kept as the book has it (no validation, no error handling) so that the benchmark compares our
service with what the book ships: `gunicorn --bind 0.0.0.0:9696 predict:app`.
"""

import os
import pickle

from flask import Flask, jsonify, request

model_file = os.environ.get("CHURN_MODEL_PATH", "churn-model.bin")

with open(model_file, "rb") as f_in:
    dv, model = pickle.load(f_in)  # noqa: S301 - the book's own model file

app = Flask("churn")


@app.route("/predict", methods=["POST"])
def predict():
    customer = request.get_json()

    X = dv.transform([customer])
    y_pred = model.predict_proba(X)[0, 1]
    churn = y_pred >= 0.5

    result = {"churn_probability": float(y_pred), "churn": bool(churn)}

    return jsonify(result)
