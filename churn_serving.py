"""The service. `python churn_serving.py` serves it (granian, churn/server/launch.py; settings from the environment).

`churn_serving:app` is the WSGI app itself, for any WSGI server, as in the book:
`gunicorn --bind 0.0.0.0:9696 churn_serving:app`. A model that fails verification, or a bad setting,
stops the start with a message saying what to do.
"""

if __name__ == "__main__":
    from churn.server.launch import main

    main()
else:
    from churn.server.app import build_app

    app = build_app()
