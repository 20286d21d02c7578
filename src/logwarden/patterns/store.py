"""The durable pattern store, in the metadata database (meta/tables.py: patterns, pattern_counts,
pattern_checkpoints).

Why the metadata database and not the log store: patterns are a few thousand rows per service that change in
place (a template generalizes, totals grow, buckets are added to) and must commit in one transaction with the
recorder's bus cursor; that is what SQLite/PostgreSQL do well, and it keeps the DuckDB store append-only. Line
counts per minute are rolled up into hours once a day old, so a year of a pattern is under 9,000 rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, and_, delete, func, insert, select, update

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
            for (tenant, pattern_id), delta in pending.patterns.items():
                key = and_(patterns.c.tenant == tenant, patterns.c.pattern_id == pattern_id)
                row = conn.execute(select(patterns).where(key)).first()
                if row is None:
                    conn.execute(
                        insert(patterns).values(
                            tenant=tenant,
                            pattern_id=pattern_id,
                            service=delta.service,
                            template=delta.template or delta.samples[0],
                            first_seen=delta.first_seen,
                            last_seen=delta.last_seen,
                            lines=delta.lines,
                            levels=orjson.dumps(dict(delta.levels)).decode(),
                            samples=orjson.dumps(delta.samples[:MAX_SAMPLES]).decode(),
                        )
                    )
                    continue
                levels = Counter(orjson.loads(row.levels))
                levels.update(delta.levels)
                samples = orjson.loads(row.samples)
                values: dict[str, Any] = {
                    "first_seen": min(_utc(row.first_seen), delta.first_seen),
                    "last_seen": max(_utc(row.last_seen), delta.last_seen),
                    "lines": row.lines + delta.lines,
                    "levels": orjson.dumps(dict(levels)).decode(),
                }
                if len(samples) < MAX_SAMPLES:
                    values["samples"] = orjson.dumps((samples + delta.samples)[:MAX_SAMPLES]).decode()
                if delta.template is not None and delta.template != row.template:
                    values["template"] = delta.template
                conn.execute(update(patterns).where(key).values(**values))
            for (tenant, pattern_id, bucket), lines in pending.minutes.items():
                _add_count(conn, tenant, pattern_id, MINUTE, bucket, lines)

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
            for (tenant, pattern_id, hour), lines in hours.items():
                _add_count(conn, tenant, pattern_id, HOUR, hour, lines)
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


def _add_count(conn: Any, tenant: str, pattern_id: str, width: int, bucket: datetime, lines: int) -> None:
    c = pattern_counts.c
    key = and_(c.tenant == tenant, c.pattern_id == pattern_id, c.width == width, c.bucket == bucket)
    if conn.execute(update(pattern_counts).where(key).values(lines=c.lines + lines)).rowcount == 0:
        conn.execute(
            insert(pattern_counts).values(tenant=tenant, pattern_id=pattern_id, width=width, bucket=bucket, lines=lines)
        )
