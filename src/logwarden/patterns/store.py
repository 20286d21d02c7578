"""The durable pattern store, in the metadata database (meta/tables.py: patterns, pattern_counts,
pattern_checkpoints).

Why the metadata database and not the log store: patterns are a few thousand rows per service that change in
place (a template generalizes, totals grow, buckets are added to) and must commit in one transaction with the
recorder's bus cursor; that is what SQLite/PostgreSQL do well, and it keeps the DuckDB store append-only. Line
counts per minute are rolled up into hours once a day old, so a year of a pattern is under 9,000 rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, and_, bindparam, delete, func, insert, select, update

from logwarden.meta.tables import pattern_checkpoints, pattern_counts, patterns
from logwarden.patterns.miner import SavedTemplate

MINUTE = 60
HOUR = 3600
MAX_SAMPLES = 5  # sample lines kept per pattern (the first ones seen)


@dataclass(slots=True)
class PatternDelta:
    """What the lines of one pattern since the last commit add to its row."""

    service: str
    first_seen: datetime
    last_seen: datetime
    lines: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    template: str | None = None  # the template's text now, when the miner still holds it


@dataclass(slots=True)
class PendingPatterns:
    """Everything handled since the last commit: per pattern deltas and per (pattern, minute) line counts."""

    patterns: dict[tuple[str, str], PatternDelta] = field(default_factory=dict)
    minutes: Counter[tuple[str, str, datetime]] = field(default_factory=Counter)

    def __bool__(self) -> bool:
        return bool(self.patterns)


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time here is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class PatternStore:
    """Reads and writes the pattern tables; every method is one transaction (call them off the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def cursor(self, recorder: str) -> int | None:
        """The last bus batch whose patterns are committed (None: nothing committed yet)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(pattern_checkpoints.c.seq).where(pattern_checkpoints.c.recorder == recorder))
            found = row.first()
        return None if found is None else found[0]

    def commit(self, recorder: str, seq: int | None, pending: PendingPatterns, now: datetime) -> None:
        """Add `pending` to the tables and move the recorder's cursor to `seq`, all or nothing."""
        with self.engine.begin() as conn:
            # The cursor first: a write takes SQLite's write lock at once (waiting for it), where a read first
            # would fail with "database is locked" when another writer commits in between.
            moved = conn.execute(
                update(pattern_checkpoints)
                .where(pattern_checkpoints.c.recorder == recorder)
                .values(seq=seq, updated=now)
            )
            if moved.rowcount == 0:
                conn.execute(insert(pattern_checkpoints).values(recorder=recorder, seq=seq, updated=now))
            _merge_patterns(conn, pending.patterns)
            _add_counts(conn, MINUTE, pending.minutes)

    def is_empty(self) -> bool:
        """True when no pattern and no recorder cursor is stored (a new or lost database)."""
        with self.engine.connect() as conn:
            pattern = conn.execute(select(patterns.c.pattern_id).limit(1)).first()
            cursor = conn.execute(select(pattern_checkpoints.c.recorder).limit(1)).first()
        return pattern is None and cursor is None

    def saved_templates(self, since: datetime | None = None) -> list[SavedTemplate]:
        """Every stored template (seen since `since`, when given), least recently seen first: the order the miner
        restores them in, so the most recent survive its cap."""
        query = select(
            patterns.c.tenant, patterns.c.service, patterns.c.pattern_id, patterns.c.template, patterns.c.lines
        )
        if since is not None:
            query = query.where(patterns.c.last_seen >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(patterns.c.last_seen)).all()
        return [SavedTemplate(r.tenant, r.service, r.pattern_id, r.template, r.lines) for r in rows]

    def patterns(self, tenant: str, service: str | None = None) -> list[dict[str, Any]]:
        """A tenant's patterns (of one service, when given), most lines first."""
        query = select(patterns).where(patterns.c.tenant == tenant)
        if service is not None:
            query = query.where(patterns.c.service == service)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(patterns.c.lines.desc())).all()
        return [
            {
                "pattern_id": r.pattern_id,
                "service": r.service,
                "template": r.template,
                "first_seen": _utc(r.first_seen),
                "last_seen": _utc(r.last_seen),
                "lines": r.lines,
                "levels": orjson.loads(r.levels),
                "samples": orjson.loads(r.samples),
            }
            for r in rows
        ]

    def templates(self, tenant: str, pattern_ids: list[str]) -> dict[str, str]:
        """The template text of each of these patterns the store knows."""
        c = patterns.c
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(pattern_ids), IN_CHUNK):
                chunk = pattern_ids[start : start + IN_CHUNK]
                query = select(c.pattern_id, c.template).where(c.tenant == tenant, c.pattern_id.in_(chunk))
                out.update((r.pattern_id, r.template) for r in conn.execute(query))
        return out

    def window(
        self,
        tenant: str,
        start: datetime,
        end: datetime,
        *,
        service: str | None = None,
        limit: int = 100,
        buckets: int = 30,
    ) -> list[dict[str, Any]]:
        """The `limit` patterns with most lines in [start, end) (a count bucket belongs to the window its start
        is in: minute buckets, and hour buckets past a day), most first, each with its row (template, level
        mix, samples, first and last seen, total lines ever) plus `window_lines` and `trend`: lines in each of
        `buckets` equal slices of the window (a sparkline)."""
        c, p = pattern_counts.c, patterns.c
        in_window = and_(c.tenant == tenant, c.bucket >= start, c.bucket < end)
        total = func.sum(c.lines).label("n")
        top = select(c.pattern_id, total).where(in_window).group_by(c.pattern_id).order_by(total.desc(), c.pattern_id)
        if service is not None:
            top = top.join(patterns, and_(p.tenant == c.tenant, p.pattern_id == c.pattern_id)).where(
                p.service == service
            )
        step = max((end - start).total_seconds() / buckets, 1.0)
        with self.engine.connect() as conn:
            ranked = [(r.pattern_id, int(r.n)) for r in conn.execute(top.limit(limit))]
            ids = [pattern_id for pattern_id, _ in ranked]
            rows: dict[str, Any] = {}
            trends: dict[str, list[int]] = {pattern_id: [0] * buckets for pattern_id in ids}
            for at in range(0, len(ids), IN_CHUNK):
                chunk = ids[at : at + IN_CHUNK]
                for r in conn.execute(select(patterns).where(p.tenant == tenant, p.pattern_id.in_(chunk))):
                    rows[r.pattern_id] = r
                query = select(c.pattern_id, c.bucket, c.lines).where(in_window, c.pattern_id.in_(chunk))
                for r in conn.execute(query):
                    slot = int((_utc(r.bucket) - start).total_seconds() // step)
                    trends[r.pattern_id][min(max(slot, 0), buckets - 1)] += r.lines
        out = []
        for pattern_id, n in ranked:
            row = rows.get(pattern_id)
            if row is None:  # counts without their pattern row: expired between the two reads
                continue
            out.append(
                {
                    "pattern_id": pattern_id,
                    "service": row.service,
                    "template": row.template,
                    "window_lines": n,
                    "trend": trends[pattern_id],
                    "lines": row.lines,
                    "levels": orjson.loads(row.levels),
                    "samples": orjson.loads(row.samples),
                    "first_seen": _utc(row.first_seen),
                    "last_seen": _utc(row.last_seen),
                }
            )
        return out

    def counts(self, tenant: str, pattern_id: str) -> list[tuple[int, datetime, int]]:
        """(width in seconds, bucket start, lines) of one pattern, oldest first."""
        c = pattern_counts.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.width, c.bucket, c.lines)
                .where(c.tenant == tenant, c.pattern_id == pattern_id)
                .order_by(c.bucket, c.width)
            ).all()
        return [(r.width, _utc(r.bucket), r.lines) for r in rows]

    def rollup(self, now: datetime, after: timedelta = timedelta(days=1)) -> int:
        """Minute buckets older than `after` added into their hour's bucket and deleted; returns how many."""
        c = pattern_counts.c
        cutoff = now - after
        with self.engine.begin() as conn:
            _take_write_lock(conn)
            rows = conn.execute(
                select(c.tenant, c.pattern_id, c.bucket, c.lines).where(c.width == MINUTE, c.bucket < cutoff)
            ).all()
            hours: Counter[tuple[str, str, datetime]] = Counter()
            for r in rows:
                start = _utc(r.bucket)
                hours[(r.tenant, r.pattern_id, start.replace(minute=0, second=0, microsecond=0))] += r.lines
            _add_counts(conn, HOUR, hours)
            conn.execute(delete(pattern_counts).where(c.width == MINUTE, c.bucket < cutoff))
        return len(rows)

    def expire(self, tenant_cutoffs: dict[str, datetime], default_cutoff: datetime) -> int:
        """Delete counts older than each tenant's cutoff (its retention) and patterns not seen since; returns
        the patterns deleted."""
        deleted = 0
        with self.engine.begin() as conn:
            _take_write_lock(conn)
            tenants = [r[0] for r in conn.execute(select(func.distinct(patterns.c.tenant))).all()]
            for tenant in tenants:
                cutoff = tenant_cutoffs.get(tenant, default_cutoff)
                conn.execute(
                    delete(pattern_counts).where(pattern_counts.c.tenant == tenant, pattern_counts.c.bucket < cutoff)
                )
                gone = conn.execute(delete(patterns).where(patterns.c.tenant == tenant, patterns.c.last_seen < cutoff))
                deleted += gone.rowcount
        return deleted


def _take_write_lock(conn: Any) -> None:
    """A no-op write, so a transaction that reads before it writes holds SQLite's write lock from the start."""
    conn.execute(update(pattern_checkpoints).where(pattern_checkpoints.c.recorder == "").values(seq=None))


IN_CHUNK = 500  # keys per `IN (...)` list: far below SQLite's bound-parameter limit


def _merge_patterns(conn: Any, deltas: dict[tuple[str, str], PatternDelta]) -> None:
    """Add each delta to its pattern's row: one SELECT per tenant and 500 ids for the rows that exist, then
    one executemany INSERT of the new rows and one executemany UPDATE of the others (no statement per
    pattern, so the write transaction stays short)."""
    by_tenant: dict[str, list[str]] = {}
    for tenant, pattern_id in deltas:
        by_tenant.setdefault(tenant, []).append(pattern_id)
    stored: dict[tuple[str, str], Any] = {}
    c = patterns.c
    for tenant, ids in by_tenant.items():
        for start in range(0, len(ids), IN_CHUNK):
            query = select(c.pattern_id, c.template, c.first_seen, c.last_seen, c.lines, c.levels, c.samples).where(
                c.tenant == tenant, c.pattern_id.in_(ids[start : start + IN_CHUNK])
            )
            for row in conn.execute(query):
                stored[(tenant, row.pattern_id)] = row
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for (tenant, pattern_id), delta in deltas.items():
        row = stored.get((tenant, pattern_id))
        if row is None:
            inserts.append(
                {
                    "tenant": tenant,
                    "pattern_id": pattern_id,
                    "service": delta.service,
                    "template": delta.template or delta.samples[0],
                    "first_seen": delta.first_seen,
                    "last_seen": delta.last_seen,
                    "lines": delta.lines,
                    "levels": orjson.dumps(dict(delta.levels)).decode(),
                    "samples": orjson.dumps(delta.samples[:MAX_SAMPLES]).decode(),
                }
            )
            continue
        levels = Counter(orjson.loads(row.levels))
        levels.update(delta.levels)
        samples = orjson.loads(row.samples)
        if len(samples) < MAX_SAMPLES:
            samples = (samples + delta.samples)[:MAX_SAMPLES]
        updates.append(
            {
                "k_tenant": tenant,
                "k_pattern_id": pattern_id,
                "first_seen": min(_utc(row.first_seen), delta.first_seen),
                "last_seen": max(_utc(row.last_seen), delta.last_seen),
                "lines": row.lines + delta.lines,
                "levels": orjson.dumps(dict(levels)).decode(),
                "samples": orjson.dumps(samples).decode(),
                "template": delta.template if delta.template is not None else row.template,
            }
        )
    if inserts:
        conn.execute(insert(patterns), inserts)
    if updates:
        conn.execute(
            update(patterns)
            .where(c.tenant == bindparam("k_tenant"), c.pattern_id == bindparam("k_pattern_id"))
            .values(
                {
                    name: bindparam(name)
                    for name in ("first_seen", "last_seen", "lines", "levels", "samples", "template")
                }
            ),
            updates,
        )


def _add_counts(conn: Any, width: int, counts: Mapping[tuple[str, str, datetime], int]) -> None:
    """Add lines to (tenant, pattern, bucket) counts of one width: the buckets that exist are found with one
    SELECT per tenant and 500 patterns, then one executemany UPDATE and one executemany INSERT."""
    if not counts:
        return
    c = pattern_counts.c
    by_tenant: dict[str, set[str]] = {}
    for tenant, pattern_id, _ in counts:
        by_tenant.setdefault(tenant, set()).add(pattern_id)
    buckets = {bucket for _, _, bucket in counts}
    low, high = min(buckets), max(buckets)
    existing: set[tuple[str, str, datetime]] = set()
    for tenant, id_set in by_tenant.items():
        ids = sorted(id_set)
        for start in range(0, len(ids), IN_CHUNK):
            query = select(c.pattern_id, c.bucket).where(
                c.tenant == tenant,
                c.width == width,
                c.bucket >= low,
                c.bucket <= high,
                c.pattern_id.in_(ids[start : start + IN_CHUNK]),
            )
            existing.update((tenant, r.pattern_id, _utc(r.bucket)) for r in conn.execute(query))
    adds: list[dict[str, Any]] = []
    news: list[dict[str, Any]] = []
    for (tenant, pattern_id, bucket), lines in counts.items():
        row = {"k_tenant": tenant, "k_pattern_id": pattern_id, "k_bucket": bucket, "add": lines}
        (adds if (tenant, pattern_id, _utc(bucket)) in existing else news).append(row)
    if adds:
        conn.execute(
            update(pattern_counts)
            .where(
                c.tenant == bindparam("k_tenant"),
                c.pattern_id == bindparam("k_pattern_id"),
                c.width == width,
                c.bucket == bindparam("k_bucket"),
            )
            .values(lines=c.lines + bindparam("add")),
            adds,
        )
    if news:
        conn.execute(
            insert(pattern_counts),
            [
                {
                    "tenant": r["k_tenant"],
                    "pattern_id": r["k_pattern_id"],
                    "width": width,
                    "bucket": r["k_bucket"],
                    "lines": r["add"],
                }
                for r in news
            ],
        )
