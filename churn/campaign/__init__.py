"""The campaign client (campaign.py): a whole customer file scored exactly once per row, resumable.

run owns the ordered, crash-safe run and its state file; rows reads customer files and writes the
output rows; client calls the service with retries; scorers are the ways to score a chunk (online,
jobs, offline); summary counts a finished output. The offline engine for CSV files is in
churn.campaign.offline. It talks to the service over HTTP only: nothing here imports churn.server.
"""
