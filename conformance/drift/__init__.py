"""`conformance drift`: judging recorded traffic (HAR 1.2, NDJSON) against an API's promises, sending nothing.

`traffic.py` streams the exchanges out of the files, `run.py` matches each to its spec operation, judges it
with `conformance/checks/passive.py` and counts unique violations, `command.py` is the command line.
"""
