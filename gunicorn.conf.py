"""gunicorn settings for churn-serving (`gunicorn -c gunicorn.conf.py churn_serving:app`).

PORT, WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_KEEPALIVE, GUNICORN_TIMEOUT and
GUNICORN_GRACEFUL_TIMEOUT override the values below; everything else is in churn/config.py.
"""

import os
import sys

from churn.config import ConfigError, Settings

try:
    _settings = Settings.from_env()
except ConfigError as e:
    sys.exit(f"churn-serving cannot start: {e}")

bind = f"0.0.0.0:{_settings.port}"
# Load the model once in the master, before forking: a bad model stops start-up before any
# worker serves, and the workers share the model's memory.
preload_app = True
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
# gthread with keep-alive, chosen by measurement (BENCHMARKS.md, bench/notes.md): threads keep a slow
# client from blocking a worker; keep-alive saves the TCP connection the sync worker pays per request.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# The control socket would be written under $HOME, which a container's user may not own; unused.
control_socket_disable = True

# gunicorn's own messages go to stdout as JSON lines too, like the application's.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "churn.logs.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}},
    "root": {"level": _settings.log_level, "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}
