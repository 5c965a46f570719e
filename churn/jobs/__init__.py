"""Asynchronous scoring on Redis + RQ: the queue the job routes submit to, and the worker that runs it.

queue owns the job function, submission with its quotas and the lookup of a job's state; worker
keeps an RQ worker alive through Redis going away. Jobs score with churn.core, as /v1/predict does.
"""
