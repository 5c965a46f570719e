"""`campaign.py --offline` on a CSV file, vectorized: the same output bytes as the chunked path, faster.

engine cuts the file into ranges of whole lines and hands them out in order; block validates, scores
and formats one range column-wise with Arrow and numpy; text writes its output lines; process is what
an offline run sets up for its own process.
"""
