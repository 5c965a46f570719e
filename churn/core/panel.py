"""The fixed panel of customers a retrain scores with both the champion and the challenger (churn.core.retrain).

Synthetic customers, none a row of the data, chosen to span the scores: a new month-to-month fibre
customer (high risk), a loyal two-year customer (low), one without internet, a senior streaming on fibre,
a family on DSL. They never change, so a score that moves on them says the model changed, not the panel.
"""

from __future__ import annotations

from typing import Any

from churn.core import features
from churn.core.training import REFERENCE_CUSTOMER


def panel_customer(customerid: str, **values: Any) -> dict[str, Any]:
    """A synthetic customer: the book's reference customer's fields with some changed (no row of the data)."""
    base = {k: v for k, v in REFERENCE_CUSTOMER.items() if k != features.ID_FIELD}
    return {features.ID_FIELD: customerid, **base, **values}


NO_INTERNET = {
    f: "no_internet_service"
    for f in ("onlinesecurity", "onlinebackup", "deviceprotection", "techsupport", "streamingtv", "streamingmovies")
}
PANEL: tuple[dict[str, Any], ...] = (
    panel_customer(
        "panel-new-fiber-monthly",
        tenure=1,
        contract="month-to-month",
        internetservice="fiber_optic",
        onlinesecurity="no",
        techsupport="no",
        paymentmethod="electronic_check",
        monthlycharges=85.0,
        totalcharges=85.0,
    ),
    panel_customer(
        "panel-loyal-two-year",
        tenure=70,
        contract="two_year",
        partner="yes",
        dependents="yes",
        monthlycharges=65.0,
        totalcharges=4550.0,
    ),
    panel_customer(
        "panel-no-internet",
        tenure=24,
        internetservice="no",
        **NO_INTERNET,
        paymentmethod="mailed_check",
        monthlycharges=20.0,
        totalcharges=480.0,
    ),
    panel_customer(
        "panel-senior-streaming",
        seniorcitizen=1,
        tenure=12,
        contract="month-to-month",
        internetservice="fiber_optic",
        paymentmethod="electronic_check",
        monthlycharges=100.0,
        totalcharges=1200.0,
    ),
    panel_customer(
        "panel-family-dsl",
        partner="yes",
        dependents="yes",
        tenure=30,
        contract="month-to-month",
        paymentmethod="credit_card_(automatic)",
        monthlycharges=55.0,
        totalcharges=1650.0,
    ),
)
