"""The model's input fields and the text normalization the book applies before training."""

from __future__ import annotations

ID_FIELD = "customerid"
TARGET = "churn"

# The columns of the CRM export the model was trained on (data/WA_Fn-UseC_-Telco-Customer-Churn.csv), in
# its order and with the model's names, Churn left out: the order of a CSV row that has no header.
EXPORT_COLUMNS: tuple[str, ...] = (
    ID_FIELD,
    "gender",
    "seniorcitizen",
    "partner",
    "dependents",
    "tenure",
    "phoneservice",
    "multiplelines",
    "internetservice",
    "onlinesecurity",
    "onlinebackup",
    "deviceprotection",
    "techsupport",
    "streamingtv",
    "streamingmovies",
    "contract",
    "paperlessbilling",
    "paymentmethod",
    "monthlycharges",
    "totalcharges",
)
NUMERICAL: tuple[str, ...] = ("tenure", "monthlycharges", "totalcharges")
# The book's list of categorical fields is the export's other columns, in the export's order.
CATEGORICAL: tuple[str, ...] = tuple(c for c in EXPORT_COLUMNS if c not in (ID_FIELD, *NUMERICAL))
FIELDS: tuple[str, ...] = CATEGORICAL + NUMERICAL

# seniorcitizen is listed as categorical by the book but holds 0/1 integers, so DictVectorizer
# treats it as one numeric column; serving accepts exactly the values seen in training.
FLAG_FIELDS: tuple[str, ...] = ("seniorcitizen",)
# The one field whose blanks training turned into 0 (pd.to_numeric(errors="coerce").fillna(0)).
BLANK_IS_ZERO: tuple[str, ...] = ("totalcharges",)


def book_normalize(text: str) -> str:
    """Normalize a name or a value exactly as the book's preprocessing does."""
    return text.lower().replace(" ", "_")


def normalize(text: str) -> str:
    """Normalize caller input: the book's rule after trimming surrounding white space."""
    return book_normalize(text.strip())
