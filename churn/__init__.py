"""Churn model serving: the book's DictVectorizer + LogisticRegression, trained, verified and served.

The packages are the architecture, each importing only from those below it:

    server/    the HTTP service (Flask app, WSGI layers, OpenAPI, metrics, the granian launcher)
    jobs/      asynchronous scoring on Redis + RQ (the queue and its worker)
    campaign/  the campaign client: a customer file scored once per row, through the service or offline
    core/      the model and its customer contract, free of HTTP, queues and files

config (settings from the environment), errors (the error vocabulary), files (every file a command
writes is a regular file, none one it reads; how a message names a file) and logs (JSON lines) are
shared by all of them. The rule is checked in CI
(import-linter contracts in pyproject.toml).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churn.campaign.frame import ChurnClient

__all__ = ["ChurnClient"]


def __getattr__(name: str) -> Any:
    """`from churn import ChurnClient`, imported on first use: the service never loads the client."""
    if name == "ChurnClient":
        from churn.campaign.frame import ChurnClient  # noqa: PLC0415

        return ChurnClient
    raise AttributeError(f"module 'churn' has no attribute {name!r}")
