"""The jobs worker: `python worker.py` (REDIS_URL required) loads the model once, then runs RQ jobs.

RQ forks a work horse per job; the horses inherit this process's loaded model, so no job reloads it.
A bad setting, an unusable model or no REDIS_URL stops the start with a message, like the API's.
Redis going away, idle or mid-job, does not stop the worker: it carries on when Redis is back
(churn/jobs/worker.py). Asked to stop while Redis is unreachable, it exits 1 with a message, not a traceback.
"""

from __future__ import annotations

import logging

from churn.config import ConfigError, Settings
from churn.core.model import load_model
from churn.core.service import ChurnService
from churn.errors import ModelLoadError
from churn.jobs.queue import init_worker
from churn.jobs.worker import WorkerStopped, connection, serve, stop_on_signals
from churn.logs import configure_logging

log = logging.getLogger("churn.worker")


def main() -> None:
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        if not settings.redis_url:
            raise ConfigError("REDIS_URL is not set: the worker needs the Redis the API queues jobs on")
        model = load_model(settings.model_path, sklearn_objects=False)
    except (ConfigError, ModelLoadError) as e:
        logging.getLogger("churn").critical("cannot start: %s", e)
        raise SystemExit(f"churn worker cannot start: {e}") from None
    init_worker(
        ChurnService(model, settings.threshold, settings.job_max_batch, range_tolerance=settings.range_tolerance)
    )
    stopping = stop_on_signals()
    log.info("worker ready with model %s", model.version)
    try:
        serve(connection(settings.redis_url, settings.redis_timeout), settings.job_heartbeat, stopping)
    except WorkerStopped as e:
        # The jobs themselves are in Redis, not in this process: one clear line instead of a traceback.
        logging.getLogger("churn").critical("stopping without Redis: %s", e)
        raise SystemExit(f"churn worker stopped: {e}") from None


if __name__ == "__main__":
    main()
