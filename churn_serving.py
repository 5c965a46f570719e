"""What gunicorn loads: `gunicorn -c gunicorn.conf.py churn_serving:app`.

Settings come from the environment (see churn/config.py); a model that fails verification stops
the start with a message saying what to do.
"""

from churn.app import build_app

app = build_app()
