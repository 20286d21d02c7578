"""Explain a change (Elastic's "log rate analysis"): which field values and log patterns are over-represented
among the lines matching a query in a spike window, against a baseline window just before it.

For each candidate field the matching lines are counted per value in both windows (one `stats count() by
<field>` each, run by the store), and each value gets a two-proportion z-score: how many standard errors
its share of the window's lines lies above its share of the baseline's. Values more frequent in the spike
rank first; a value never seen in the baseline counts against a share of half a line there, so a new host
with a handful of lines does not outrank an established one that carries the spike.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from logwarden.query.engine import QueryResult

# Fields whose values usually explain a change; `pattern_id` is the line's kind (docs/patterns.md).
DEFAULT_FIELDS = ("service", "host", "level", "source", "pattern_id")
MAX_VALUES = 200  # per field and window: the most frequent values are compared

RunQuery = Callable[[str, datetime, datetime, int], Awaitable[QueryResult]]


@dataclass(frozen=True, slots=True)
class Explanation:
    """One field value: lines with it in the window and the baseline, its shares and its significance."""

    field: str
    value: str
    window_lines: int
    baseline_lines: int
    window_share: float
    baseline_share: float
    score: float  # two-proportion z-score; above 3 is unlikely to be chance
    p_value: float  # one-sided


def z_score(a: int, n_a: int, b: int, n_b: int) -> float:
    """How far `a` of `n_a` lies above `b` of `n_b`, in standard errors of the pooled share."""
    if n_a == 0 or n_b == 0:
        return 0.0
    pa_, pb = a / n_a, max(b, 0.5) / n_b
    pooled = (a + b) / (n_a + n_b)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_a + 1 / n_b))
    return (pa_ - pb) / se


def _counts(result: QueryResult) -> dict[str, int]:
    names = [c["name"] for c in result.columns]
    if "count" not in names or len(names) < 2:
        return {}
    at_count = names.index("count")
    at_value = 0 if at_count != 0 else 1
    return {str(row[at_value]): int(row[at_count]) for row in result.rows if row[at_value] is not None}


def _total(result: QueryResult) -> int:
    return int(result.rows[0][0]) if result.rows and result.rows[0] and result.rows[0][0] is not None else 0


async def explain(
    run: RunQuery,
    query: str,
    window: tuple[datetime, datetime],
    baseline: tuple[datetime, datetime],
    fields: Sequence[str] = DEFAULT_FIELDS,
    limit: int = 20,
) -> tuple[int, int, list[Explanation]]:
    """(window lines, baseline lines, the `limit` most significant over-represented values, best first)."""
    base = query.strip()
    n_window = _total(await run(f"{base} | stats count() as count", *window, 1))
    n_baseline = _total(await run(f"{base} | stats count() as count", *baseline, 1))
    found: list[Explanation] = []
    for name in fields:
        pipe = f"{base} | top {MAX_VALUES} {name}"
        in_window = _counts(await run(pipe, *window, MAX_VALUES))
        in_baseline = _counts(await run(pipe, *baseline, MAX_VALUES))
        for value, a in in_window.items():
            b = in_baseline.get(value, 0)
            score = z_score(a, n_window, b, n_baseline)
            if score <= 0:
                continue
            found.append(
                Explanation(
                    name,
                    value,
                    a,
                    b,
                    a / n_window,
                    b / n_baseline if n_baseline else 0.0,
                    round(score, 2),
                    0.5 * math.erfc(score / math.sqrt(2)),
                )
            )
    found.sort(key=lambda e: (-e.score, e.field, e.value))
    return n_window, n_baseline, found[:limit]
