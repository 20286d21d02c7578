"""The report: a markdown summary of a tenant's recent logs (`GET /api/v1/report`, `logwarden report`).

Over the window `[end - since, end)` it gathers, each with one or two queries run by the store (no line reaches
Python) or the pattern tables:

- **errors and warnings by type**: WARN-and-worse lines per pattern (the pattern's template names the type),
  service and level;
- **components**: per service its lines, lines/s, errors, warnings and a **health score** (see `health_score`);
- **latency**: p50/p95/p99 per service of the first latency-like fields the lines carry (`LATENCY_FIELDS`);
- **new patterns**: first seen inside the window (pattern store);
- **anomalies**: patterns whose rate in the window departs from their rate in the baseline before it (the
  pattern store's per-minute counts; see `rate_changes`);
- **explanations**: the top field values and patterns over-represented among WARN-and-worse lines in the window
  against the baseline (patterns/explain.py).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, and_, func, select

from logwarden.meta.tables import pattern_counts, patterns
from logwarden.patterns.explain import DEFAULT_FIELDS, explain
from logwarden.query.engine import QueryResult

RunQuery = Callable[[str, datetime, datetime, int], Awaitable[QueryResult]]

# Fields whose values are a duration; `_ms` ones are milliseconds, the others are reported in their own unit.
LATENCY_FIELDS = (
    "latency_ms",
    "duration_ms",
    "response_time_ms",
    "elapsed_ms",
    "took_ms",
    "latency",
    "duration",
    "response_time",
    "request_time",
)
TOP_TYPES = 15  # error/warning types listed
RATE_FACTOR = 3.0  # a pattern's rate must change by this factor (up or down) to be an anomaly
RATE_MIN_LINES = 10  # ... and the larger of its window count and its expected count must reach this
BASELINE_WINDOWS = 6  # the baseline spans this many report windows before the window (at most a week)
ERROR_LEVELS = ("ERROR", "FATAL")


@dataclass(slots=True)
class Component:
    """One service in the window."""

    service: str
    lines: int = 0
    errors: int = 0
    warnings: int = 0
    lines_per_second: float = 0.0
    health: int = 100
    latency: list[dict[str, Any]] = field(default_factory=list)


def health_score(lines: int, errors: int, warnings: int) -> int:
    """100 for a service without errors or warnings, down 10 points per 1 % of its lines that are ERROR or
    FATAL and 2.5 points per 1 % that are WARN, at least 0: 1 % errors scores 90, 10 % errors scores 0."""
    if lines <= 0:
        return 100
    penalty = 1000.0 * errors / lines + 250.0 * warnings / lines
    return max(0, round(100 - penalty))


def _rows(result: QueryResult) -> list[dict[str, Any]]:
    names = [c["name"] for c in result.columns]
    return [dict(zip(names, row, strict=True)) for row in result.rows]


def rate_changes(
    engine: Engine, tenant: str, window: tuple[datetime, datetime], baseline: tuple[datetime, datetime]
) -> list[dict[str, Any]]:
    """Patterns whose lines per second in `window` are at least `RATE_FACTOR` times (or at most a
    `RATE_FACTOR`th of) their rate in `baseline`, with `RATE_MIN_LINES` lines or more expected or seen; a pattern
    absent from the baseline is new, not listed here. Largest change first (by |log ratio|)."""
    c = pattern_counts.c
    total = func.sum(c.lines).label("n")

    def per_pattern(span: tuple[datetime, datetime]) -> dict[str, int]:
        query = (
            select(c.pattern_id, total)
            .where(and_(c.tenant == tenant, c.bucket >= span[0], c.bucket < span[1]))
            .group_by(c.pattern_id)
        )
        with engine.connect() as conn:
            return {r.pattern_id: int(r.n) for r in conn.execute(query)}

    now, before = per_pattern(window), per_pattern(baseline)
    scale = (window[1] - window[0]) / (baseline[1] - baseline[0])
    found: list[dict[str, Any]] = []
    for pattern_id, base in before.items():
        if base <= 0:
            continue
        expected = base * scale
        seen = now.get(pattern_id, 0)
        if max(seen, expected) < RATE_MIN_LINES:
            continue
        ratio = seen / expected
        if ratio >= RATE_FACTOR or ratio <= 1 / RATE_FACTOR:
            found.append(
                {"pattern_id": pattern_id, "window_lines": seen, "expected_lines": round(expected, 1), "ratio": ratio}
            )
    found.sort(key=lambda f: (-abs(math.log(max(f["ratio"], 1e-9))), f["pattern_id"]))
    return found


def new_patterns(engine: Engine, tenant: str, start: datetime, end: datetime, limit: int = 20) -> list[dict[str, Any]]:
    """Patterns first seen in `[start, end)`, most lines first."""
    p = patterns.c
    query = (
        select(p.pattern_id, p.service, p.template, p.first_seen, p.lines, p.levels)
        .where(p.tenant == tenant, p.first_seen >= start, p.first_seen < end)
        .order_by(p.lines.desc(), p.pattern_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "pattern_id": r.pattern_id,
            "service": r.service,
            "template": r.template,
            "first_seen": _iso(r.first_seen),
            "lines": r.lines,
            "levels": orjson.loads(r.levels),
        }
        for r in rows
    ]


def templates_of(engine: Engine, tenant: str, ids: Sequence[str]) -> dict[str, str]:
    """The template text of these patterns."""
    if not ids:
        return {}
    p = patterns.c
    with engine.connect() as conn:
        rows = conn.execute(select(p.pattern_id, p.template).where(p.tenant == tenant, p.pattern_id.in_(list(ids))))
        return {r.pattern_id: r.template for r in rows}


def _iso(value: datetime) -> str:
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def build_report(
    run: RunQuery,
    engine: Engine | None,
    tenant: str,
    end: datetime,
    since: timedelta,
    *,
    in_thread: Callable[..., Awaitable[Any]],
) -> dict[str, Any]:
    """The report's sections as JSON (see the module docstring); `engine` None: no pattern tables (sections
    from them are empty). `in_thread(fn, *args)` runs a blocking pattern-table read off the event loop."""
    start = end - since
    baseline = (max(start - BASELINE_WINDOWS * since, start - timedelta(days=7)), start)
    seconds = max(since.total_seconds(), 1.0)

    by_level = _rows(await run("* | stats count() as n by service, level", start, end, 10_000))
    components: dict[str, Component] = {}
    totals: dict[str, int] = {}
    for row in by_level:
        service = row.get("service") or ""
        level = row.get("level") or ""
        n = int(row["n"])
        comp = components.setdefault(service, Component(service))
        comp.lines += n
        comp.errors += n if level in ERROR_LEVELS else 0
        comp.warnings += n if level == "WARN" else 0
        totals[level or "none"] = totals.get(level or "none", 0) + n
    for comp in components.values():
        comp.lines_per_second = round(comp.lines / seconds, 3)
        comp.health = health_score(comp.lines, comp.errors, comp.warnings)

    types = _rows(
        await run(
            f"level:>=warn | stats count() as count by pattern_id, service, level | sort -count | limit {TOP_TYPES}",
            start,
            end,
            TOP_TYPES,
        )
    )
    ids = [str(t["pattern_id"]) for t in types if t.get("pattern_id")]
    for row in await _latency(run, start, end):
        owner = components.get(row.pop("service"))
        if owner is not None:
            owner.latency.append(row)

    new: list[dict[str, Any]] = []
    anomalies: list[dict[str, Any]] = []
    texts: dict[str, str] = {}
    if engine is not None:
        new = await in_thread(new_patterns, engine, tenant, start, end)
        anomalies = await in_thread(rate_changes, engine, tenant, (start, end), baseline)
        texts = await in_thread(templates_of, engine, tenant, [*ids, *(a["pattern_id"] for a in anomalies)])
    for t in types:
        t["template"] = texts.get(str(t.get("pattern_id")), None)
    for a in anomalies:
        a["template"] = texts.get(a["pattern_id"])
        a["ratio"] = round(a["ratio"], 2)

    n_window, n_baseline, found = await explain(run, "level:>=warn", (start, end), baseline, DEFAULT_FIELDS, 5)
    explanations = [asdict(e) for e in found if e.score >= 3]
    if engine is not None:
        more = await in_thread(
            templates_of, engine, tenant, [e["value"] for e in explanations if e["field"] == "pattern_id"]
        )
        for e in explanations:
            if e["field"] == "pattern_id":
                e["template"] = more.get(e["value"])
    report: dict[str, Any] = {
        "start": _iso(start),
        "end": _iso(end),
        "baseline": {"start": _iso(baseline[0]), "end": _iso(baseline[1])},
        "lines": sum(totals.values()),
        "levels": dict(sorted(totals.items())),
        "error_types": types,
        "components": [asdict(c) for c in sorted(components.values(), key=lambda c: (c.health, -c.lines, c.service))],
        "new_patterns": new,
        "anomalies": anomalies,
        "explanations": explanations,
        "explained": {"window_lines": n_window, "baseline_lines": n_baseline},
    }
    report["markdown"] = render_markdown(report)
    return report


async def _latency(run: RunQuery, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """p50/p95/p99 per service of each latency-like field present: one query finds which fields the window's
    lines carry, one per present field computes them."""
    counts = ", ".join(f"count({name}) as n_{name}" for name in LATENCY_FIELDS)
    present_q = " OR ".join(f"_exists_:{name}" for name in LATENCY_FIELDS)
    found = _rows(await run(f"{present_q} | stats {counts}", start, end, 1))
    present = [name for name in LATENCY_FIELDS if found and int(found[0].get(f"n_{name}") or 0) > 0]
    out: list[dict[str, Any]] = []
    for name in present:
        rows = _rows(
            await run(
                f"_exists_:{name} | stats count({name}) as n, p50({name}) as p50, p95({name}) as p95, "
                f"p99({name}) as p99 by service",
                start,
                end,
                1000,
            )
        )
        for row in rows:
            if row.get("p50") is None:
                continue  # text that is no number
            out.append(
                {
                    "service": row.get("service") or "",
                    "field": name,
                    "lines": int(row["n"]),
                    **{q: round(float(row[q]), 3) for q in ("p50", "p95", "p99")},
                }
            )
    return out


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown (what `logwarden report` prints)."""
    lines = [f"# logwarden report: {report['start'][:19]}Z to {report['end'][:19]}Z", ""]
    levels = ", ".join(f"{k} {v}" for k, v in report["levels"].items()) or "none"
    lines += [f"{report['lines']} lines ({levels}).", ""]
    lines += ["## Errors and warnings by type", ""]
    if report["error_types"]:
        rows = [
            [t["count"], t.get("level") or "", t.get("service") or "", t.get("template") or t.get("pattern_id") or "-"]
            for t in report["error_types"]
        ]
        lines += _table(["lines", "level", "service", "type (pattern)"], rows)
    else:
        lines.append("No warnings or errors.")
    lines += ["", "## Components", ""]
    if report["components"]:
        rows = [
            [c["service"] or "-", c["health"], c["lines"], c["lines_per_second"], c["errors"], c["warnings"]]
            for c in report["components"]
        ]
        lines += _table(["service", "health", "lines", "lines/s", "errors", "warnings"], rows)
        lines += ["", "Health: 100, minus 10 points per 1 % of lines that are ERROR or FATAL and 2.5 per 1 % WARN."]
    else:
        lines.append("No lines.")
    latency = [(c["service"], lat) for c in report["components"] for lat in c["latency"]]
    if latency:
        lines += ["", "## Latency", ""]
        rows = [[s or "-", lat["field"], lat["lines"], lat["p50"], lat["p95"], lat["p99"]] for s, lat in latency]
        lines += _table(["service", "field", "lines", "p50", "p95", "p99"], rows)
    lines += ["", "## New patterns", ""]
    if report["new_patterns"]:
        rows = [[p["first_seen"], p["service"] or "-", p["lines"], p["template"]] for p in report["new_patterns"]]
        lines += _table(["first seen", "service", "lines", "template"], rows)
    else:
        lines.append("None.")
    lines += ["", "## Anomalies (pattern rate changes against the baseline)", ""]
    if report["anomalies"]:
        rows = [
            [f"{a['ratio']}×", a["window_lines"], a["expected_lines"], a.get("template") or a["pattern_id"]]
            for a in report["anomalies"]
        ]
        lines += _table(["change", "lines", "expected", "template"], rows)
    else:
        lines.append("None.")
    lines += ["", "## What stands out among warnings and errors", ""]
    if report["explanations"]:
        rows = [
            [
                f"{e['field']} = {e.get('template') or e['value']}",
                e["score"],
                f"{e['window_share']:.0%}",
                f"{e['baseline_share']:.0%}",
            ]
            for e in report["explanations"]
        ]
        lines += _table(["value", "score", "share now", "share before"], rows)
    else:
        lines.append("Nothing significant (no value scores 3 or more).")
    return "\n".join(lines) + "\n"
