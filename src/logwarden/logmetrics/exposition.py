"""`/metrics/logs`: the log metrics' current values in the Prometheus text exposition format (version 0.0.4).

Counters as `<name>_total`; `sum` metrics as counters of their sum (`<name>`, plus `<name>_count` of the values
taken); histograms as `_bucket{le=…}` / `_sum` / `_count` with the definition's `buckets` (counted from the
stored bins: a bin is in a bucket when its smallest value is below `le`, so a bucket holds every value ≤ `le`
and perhaps some up to 2 % above it); summaries as quantiles 0.5, 0.9, 0.95, 0.99 over everything since the
server started, with `_sum` and `_count`. Every series carries its `tenant` label. Written by hand: the values
are the subscriber's totals, read once per scrape — no registry to keep in step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import orjson

from logwarden.config.logmetrics import MetricDefinition
from logwarden.logmetrics.sketch import ZERO_BIN, bin_lower, quantile

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SUMMARY_QUANTILES = (0.5, 0.9, 0.95, 0.99)

Series = tuple[tuple[str, str, str], float, float, dict[int, int]]  # (metric, tenant, labels), count, sum, bins


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_name(name: str) -> str:
    """A label field as a Prometheus label name (`http.status` → `http_status`)."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out if not out[0].isdigit() else "_" + out


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _number(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def series_pairs(tenant: str, labels: str) -> list[tuple[str, str]]:
    """A series' Prometheus labels: its tenant, then its label fields (stored as JSON) as label names."""
    return [("tenant", tenant), *((_label_name(k), str(v)) for k, v in orjson.loads(labels).items())]


def series_samples(
    d: MetricDefinition, pairs: list[tuple[str, str]], count: float, total: float, bins: Mapping[int, int]
) -> list[tuple[str, list[tuple[str, str]], float]]:
    """The Prometheus samples of one series' totals, as (name, labels, value) — the exposition and remote-write
    both show these (see the module docstring for the mapping of each type)."""
    exposed = d.exposed_name
    if d.type == "counter":
        return [(exposed, pairs, count)]
    if d.type == "sum":
        return [(exposed, pairs, total), (f"{exposed}_count", pairs, count)]
    out: list[tuple[str, list[tuple[str, str]], float]] = []
    if d.type == "histogram":
        ordered = sorted(bins.items())
        for le in d.buckets:
            below = sum(n for i, n in ordered if i == ZERO_BIN or bin_lower(i) < le)
            out.append((f"{exposed}_bucket", [*pairs, ("le", _number(le))], float(below)))
        out.append((f"{exposed}_bucket", [*pairs, ("le", "+Inf")], count))
    else:
        for q in SUMMARY_QUANTILES:
            v = quantile(bins.items(), q)
            out.append((exposed, [*pairs, ("quantile", _number(q))], math.nan if v is None else v))
    out.append((f"{exposed}_sum", pairs, total))
    out.append((f"{exposed}_count", pairs, count))
    return out


def render(definitions: Mapping[str, MetricDefinition], series: Iterable[Series], tenant: str | None = None) -> str:
    """The exposition of every series (of `tenant` only, when given), grouped by metric."""
    by_metric: dict[str, list[Series]] = {}
    for s in series:
        if tenant is None or s[0][1] == tenant:
            by_metric.setdefault(s[0][0], []).append(s)
    out: list[str] = []
    for name in sorted(by_metric):
        d = definitions.get(name)
        if d is None:
            continue  # a definition removed while its totals were still kept
        rows = sorted(by_metric[name], key=lambda s: (s[0][1], s[0][2]))
        exposed = d.exposed_name
        kind = {"counter": "counter", "sum": "counter", "histogram": "histogram", "summary": "summary"}[d.type]
        out.append(f"# HELP {exposed} {_escape(d.description or f'log metric {d.name} ({d.type}): {d.query}')}")
        out.append(f"# TYPE {exposed} {kind}")
        counts: list[str] = []  # a sum's `_count` is a family of its own: after the sums
        for (_, t, text), count, total, bins in rows:
            for sample, pairs, value in series_samples(d, series_pairs(t, text), count, total, bins):
                shown = "NaN" if math.isnan(value) else _number(value)
                line = f"{sample}{_labels(pairs)} {shown}"
                (counts if d.type == "sum" and sample != exposed else out).append(line)
        if counts:
            out.append(f"# TYPE {exposed}_count counter")
            out.extend(counts)
    return "\n".join(out) + "\n" if out else ""
