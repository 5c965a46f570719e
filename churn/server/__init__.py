"""The HTTP service: the Flask app and the WSGI layers around it, and the server that runs it.

It owns the routes (api, ops, job_routes), the request's way in (middleware: route, auth, body, log
line, metrics; body: the one body reader; fastpath), the OpenAPI document, the Prometheus metrics
and the launcher (granian). It builds on churn.core for everything about customers and scores, and on
churn.jobs for the queue behind the job routes.
"""
