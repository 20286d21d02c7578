"""`/metrics/logs`: the log metrics' current values in the Prometheus text exposition format (version 0.0.4).

Counters as `<name>_total`; `sum` metrics as counters of their sum (`<name>`, plus `<name>_count` of the values
taken); histograms as `_bucket{le=…}` / `_sum` / `_count` with the definition's `buckets` (counted from the
stored bins: a bin is in a bucket when its smallest value is below `le`, so a bucket holds every value ≤ `le`
and perhaps some up to 2 % above it); summaries as quantiles 0.5, 0.9, 0.95, 0.99 over everything since the
server started, with `_sum` and `_count`. Every series carries its `tenant` label. Written by hand: the values
are the subscriber's totals, read once per scrape — no registry to keep in step.
"""

from __future__ import annotations

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
        for (_, t, text), count, total, bins in rows:
            pairs = [("tenant", t), *((_label_name(k), str(v)) for k, v in orjson.loads(text).items())]
            if d.type == "counter":
                out.append(f"{exposed}{_labels(pairs)} {_number(count)}")
            elif d.type == "sum":
                out.append(f"{exposed}{_labels(pairs)} {_number(total)}")
            elif d.type == "histogram":
                ordered = sorted(bins.items())
                for le in d.buckets:
                    below = sum(n for i, n in ordered if i == ZERO_BIN or bin_lower(i) < le)
                    out.append(f"{exposed}_bucket{_labels([*pairs, ('le', _number(le))])} {below}")
                out.append(f"{exposed}_bucket{_labels([*pairs, ('le', '+Inf')])} {_number(count)}")
                out.append(f"{exposed}_sum{_labels(pairs)} {_number(total)}")
                out.append(f"{exposed}_count{_labels(pairs)} {_number(count)}")
            else:
                for q in SUMMARY_QUANTILES:
                    v = quantile(bins.items(), q)
                    shown = "NaN" if v is None else _number(v)
                    out.append(f"{exposed}{_labels([*pairs, ('quantile', _number(q))])} {shown}")
                out.append(f"{exposed}_sum{_labels(pairs)} {_number(total)}")
                out.append(f"{exposed}_count{_labels(pairs)} {_number(count)}")
        if d.type == "sum":
            out.append(f"# TYPE {exposed}_count counter")
            for (_, t, text), count, _, _ in rows:
                pairs = [("tenant", t), *((_label_name(k), str(v)) for k, v in orjson.loads(text).items())]
                out.append(f"{exposed}_count{_labels(pairs)} {_number(count)}")
    return "\n".join(out) + "\n" if out else ""
