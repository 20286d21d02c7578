"""Log-derived metrics: time series computed from the log stream on the batch bus (docs/metrics.md).

Not to be confused with `telemetry/metrics.py`, logwarden's own Prometheus metrics.
"""
