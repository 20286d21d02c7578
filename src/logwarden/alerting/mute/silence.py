"""Silences: label matchers that mute a tenant's alerts from `starts_at` until `ends_at`, with who made them and why.

Stored in the metadata database (`silences`), so they survive restarts and every server process of one database
sees them; expired silences are kept for `alerting.silence_retention` (listed, and a template for a new one), then
removed by `SilenceStore.gc`. `Silencer` is the `Muter` the router asks: it caches the silences that are not yet
expired and reloads them when the store's `revision()` changes.

Editing follows Alertmanager: an expired silence cannot be edited (make a new one); a pending silence is edited
in place; an active one keeps its id when only its end, comment or author change, but changing its matchers or
its start expires it now and creates a new silence with the new values (so what muted which alert, and when, stays
true in the history).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import Engine, Row, delete, false, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from logwarden.alerting.matchers import Matcher, matches_all
from logwarden.meta.tables import silences

log = logging.getLogger(__name__)

SilenceState = Literal["pending", "active", "expired"]
STATES: tuple[SilenceState, ...] = ("active", "pending", "expired")
TENANT_LABEL = "tenant"
MAX_AUTHOR = 200
MAX_COMMENT = 10_000


class SilenceError(ValueError):
    """A silence described wrongly; the message names the field (`ends_at`, `matchers`, …)."""


class SilenceExpiredError(Exception):
    """An expired silence cannot be edited: make a new one."""


@dataclass(frozen=True, slots=True)
class Silence:
    """One silence of one tenant: it mutes that tenant's alerts matching every matcher from `starts_at`
    (inclusive) until `ends_at` (exclusive)."""

    id: str
    tenant: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created: datetime
    updated: datetime

    def state(self, now: datetime) -> SilenceState:
        """`pending` before `starts_at`, `active` until `ends_at`, `expired` from then on."""
        if now >= self.ends_at:
            return "expired"
        return "pending" if now < self.starts_at else "active"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the silence applies to an alert with `labels` (its tenant's, every matcher matching), whatever
        the time."""
        return labels.get(TENANT_LABEL, "") == self.tenant and matches_all(self.matchers, labels)

    def matchers_text(self) -> str:
        """`{service="api", severity=~"warning|info"}`."""
        return "{" + ", ".join(str(m) for m in self.matchers) + "}"

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        """The API's view; with `now`, also its `state` then."""
        out: dict[str, Any] = {
            "id": self.id,
            "matchers": [m.to_json() for m in self.matchers],
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "created_by": self.created_by,
            "comment": self.comment,
            "created": iso(self.created),
            "updated": iso(self.updated),
        }
        if now is not None:
            out["state"] = self.state(now)
        return out

    @classmethod
    def from_row(cls, row: Row[Any]) -> Silence:
        """A silence from its row in the `silences` table."""
        m = row._mapping
        return cls(
            id=m["id"],
            tenant=m["tenant"],
            matchers=tuple(Matcher.create(d["name"], d["type"], d["value"]) for d in orjson.loads(m["matchers"])),
            starts_at=_utc(m["starts_at"]),
            ends_at=_utc(m["ends_at"]),
            created_by=m["created_by"],
            comment=m["comment"],
            created=_utc(m["created"]),
            updated=_utc(m["updated"]),
        )


def iso(value: datetime) -> str:
    """RFC 3339 in UTC with `Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_silence(
    matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, created_by: str, comment: str, now: datetime
) -> None:
    """SilenceError naming the field when a silence would be refused: no matchers, matchers that match every
    alert, an end not after the start or already past, no author, no comment."""
    if not matchers:
        raise SilenceError('matchers: give at least one matcher, like service="api"')
    if all(m.matches({}) for m in matchers):
        shown = ", ".join(str(m) for m in matchers)
        raise SilenceError(
            f"matchers: {shown} also match alerts without these labels, so the silence would mute every alert; "
            'add a matcher that needs a value, like service="api"'
        )
    if ends_at <= now:
        raise SilenceError(f"ends_at ({iso(ends_at)}) is in the past (now is {iso(now)})")
    if ends_at <= starts_at:
        raise SilenceError(f"ends_at ({iso(ends_at)}) must be after starts_at ({iso(starts_at)})")
    if not created_by.strip():
        raise SilenceError("created_by: say who makes the silence")
    if len(created_by) > MAX_AUTHOR:
        raise SilenceError(f"created_by is too long ({len(created_by)} characters; at most {MAX_AUTHOR})")
    if not comment.strip():
        raise SilenceError("comment: say why the alerts are silenced")
    if len(comment) > MAX_COMMENT:
        raise SilenceError(f"comment is too long ({len(comment)} characters; at most {MAX_COMMENT})")


class SilenceStore:
    """The `silences` table; every call but `active`, `unexpired`, `gc` and `revision` is scoped to one tenant.
    Blocking: run it in a thread (`MetaDB.run`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self,
        tenant: str,
        matchers: Sequence[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime | None = None,
    ) -> Silence:
        """A new silence; a start in the past becomes `now` (a silence does not start retroactively).
        SilenceError when it would be refused (check_silence)."""
        now = _now(now)
        starts_at = max(starts_at, now)
        check_silence(matchers, starts_at, ends_at, created_by, comment, now)
        with self._engine.begin() as con:
            stamp = _stamp(con, now)
            made = Silence(
                uuid.uuid4().hex, tenant, tuple(matchers), starts_at, ends_at, created_by, comment, stamp, stamp
            )
            con.execute(insert(silences).values(**_values(made)))
        return made

    def update(
        self,
        tenant: str,
        silence_id: str,
        *,
        matchers: Sequence[Matcher] | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        created_by: str | None = None,
        comment: str | None = None,
        now: datetime | None = None,
    ) -> Silence | None:
        """Change the given fields (see the module's docstring for when this makes a new silence, returned with
        its new id). None when the tenant has no such silence; SilenceExpiredError when it has expired;
        SilenceError when the result would be refused."""
        now = _now(now)
        with self._engine.begin() as con:
            _lock(con)
            old = _get(con, tenant, silence_id)
            if old is None:
                return None
            state = old.state(now)
            if state == "expired":
                raise SilenceExpiredError(
                    f"silence {silence_id} expired at {iso(old.ends_at)}: an expired silence cannot be edited; "
                    "create a new one"
                )
            new = replace(
                old,
                matchers=tuple(matchers) if matchers is not None else old.matchers,
                starts_at=max(starts_at, now) if starts_at is not None else old.starts_at,
                ends_at=ends_at if ends_at is not None else old.ends_at,
                created_by=created_by if created_by is not None else old.created_by,
                comment=comment if comment is not None else old.comment,
            )
            check_silence(new.matchers, new.starts_at, new.ends_at, new.created_by, new.comment, now)
            stamp = _stamp(con, now)
            if state == "active" and (new.matchers != old.matchers or new.starts_at != old.starts_at):
                # What it muted until now stays true: the old silence ends now, a new one takes over.
                con.execute(_set(old.id, ends_at=now, updated=stamp))
                new = replace(new, id=uuid.uuid4().hex, starts_at=max(new.starts_at, now), created=stamp, updated=stamp)
                con.execute(insert(silences).values(**_values(new)))
                return new
            new = replace(new, updated=stamp)
            values = _values(new)
            del values["id"], values["tenant"], values["created"]
            con.execute(_set(old.id, **values))
            return new

    def expire(self, tenant: str, silence_id: str, now: datetime | None = None) -> Silence | None:
        """End a silence now (a pending one never starts); an expired one is returned unchanged. None when the
        tenant has no such silence."""
        now = _now(now)
        with self._engine.begin() as con:
            _lock(con)
            old = _get(con, tenant, silence_id)
            if old is None or old.state(now) == "expired":
                return old
            stamp = _stamp(con, now)
            starts_at = min(old.starts_at, now)
            con.execute(_set(old.id, starts_at=starts_at, ends_at=now, updated=stamp))
            return replace(old, starts_at=starts_at, ends_at=now, updated=stamp)

    def get(self, tenant: str, silence_id: str) -> Silence | None:
        """One silence of the tenant, or None."""
        with self._engine.connect() as con:
            return _get(con, tenant, silence_id)

    def active(self, now: datetime | None = None) -> list[Silence]:
        """Every tenant's silences active at `now`."""
        now = _now(now)
        stmt = select(silences).where(silences.c.starts_at <= _db(now), silences.c.ends_at > _db(now))
        with self._engine.connect() as con:
            return [Silence.from_row(r) for r in con.execute(stmt)]

    def unexpired(self, now: datetime | None = None) -> list[Silence]:
        """Every tenant's silences active or pending at `now` (what a Silencer caches)."""
        stmt = select(silences).where(silences.c.ends_at > _db(_now(now)))
        with self._engine.connect() as con:
            return [Silence.from_row(r) for r in con.execute(stmt)]

    def gc(self, now: datetime, retention: timedelta) -> int:
        """Delete the silences that expired more than `retention` before `now`; how many."""
        stmt = delete(silences).where(silences.c.ends_at < _db(now - retention))
        with self._engine.begin() as con:
            return int(con.execute(stmt).rowcount or 0)

    def revision(self) -> str:
        """A token that changes whenever a silence is made, changed or deleted (the count and the newest change:
        every change stamps `updated` later than all before it)."""
        stmt = select(func.count(), func.max(silences.c.updated)).select_from(silences)
        with self._engine.connect() as con:
            count, newest = con.execute(stmt).one()
        return f"{count}:{iso(_utc(newest)) if newest is not None else '-'}"

    # Last: a method named `list` would hide the builtin in the annotations of the methods after it.
    def list(self, tenant: str, state: SilenceState | None = None, now: datetime | None = None) -> list[Silence]:
        """The tenant's silences (only those in `state` at `now`, when given): active ones first by end, then
        pending ones by start, then expired ones, the latest first."""
        now = _now(now)
        stmt = select(silences).where(silences.c.tenant == tenant)
        if state == "active":
            stmt = stmt.where(silences.c.starts_at <= _db(now), silences.c.ends_at > _db(now))
        elif state == "pending":
            stmt = stmt.where(silences.c.starts_at > _db(now), silences.c.ends_at > _db(now))
        elif state == "expired":
            stmt = stmt.where(silences.c.ends_at <= _db(now))
        with self._engine.connect() as con:
            found = [Silence.from_row(r) for r in con.execute(stmt)]
        return sorted(found, key=lambda s: _order(s, now))


class Silencer:
    """The `Muter` of silences: an alert is muted while an active silence of its tenant (its `tenant` label)
    matches it; `muted_by` gives the silences' ids.

    The silences that are not expired are cached; the store's `revision()` is checked at most every `refresh`
    seconds (of `clock`, monotonic) and they are reloaded when it changed. `invalidate()` makes the next
    decision reload (the API calls it after a change, so a new silence mutes at once). If the database cannot be
    read, the cache stays as it was and the store is tried again after `refresh`."""

    def __init__(self, store: SilenceStore, refresh: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.refresh = refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._by_tenant: dict[str, tuple[Silence, ...]] = {}
        self._revision: str | None = None
        self._checked: float | None = None
        self._forced = True
        self.loads = 0  # how many times the silences were read (tests, and the debug log)

    def invalidate(self) -> None:
        """Reload the silences before the next decision."""
        self._forced = True

    def silences(self, now: datetime) -> Mapping[str, tuple[Silence, ...]]:
        """The cached unexpired silences by tenant, refreshed when due."""
        with self._lock:
            at = self._clock()
            due = self._checked is None or at - self._checked >= self.refresh
            if self._forced or due:
                self._checked = at
                self._reload(now)
            return self._by_tenant

    def _reload(self, now: datetime) -> None:
        forced, self._forced = self._forced, False
        try:
            revision = self.store.revision()  # before reading: a change in between only causes one more reload
            if not forced and revision == self._revision:
                return
            by_tenant: dict[str, list[Silence]] = {}
            for silence in self.store.unexpired(now):
                by_tenant.setdefault(silence.tenant, []).append(silence)
        except SQLAlchemyError as exc:
            self._forced = forced
            log.warning("cannot read the silences (keeping the %d cached): %s", self._count(), exc)
            return
        self._by_tenant = {tenant: tuple(found) for tenant, found in by_tenant.items()}
        self._revision = revision
        self.loads += 1
        log.debug("silences reloaded: %d unexpired, revision %s", self._count(), revision)

    def _count(self) -> int:
        return sum(len(found) for found in self._by_tenant.values())

    def _muting(self, labels: Mapping[str, str], now: datetime) -> Iterable[Silence]:
        for silence in self.silences(now).get(labels.get(TENANT_LABEL, ""), ()):
            if silence.state(now) == "active" and matches_all(silence.matchers, labels):
                yield silence

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        """Whether an active silence of the alert's tenant matches `labels` at `now`."""
        return next(iter(self._muting(labels, now)), None) is not None

    def muted_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """The ids of the silences muting an alert with `labels` at `now`."""
        return [silence.id for silence in self._muting(labels, now)]


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _utc(value: datetime) -> datetime:
    # SQLite keeps no time zone; everything is written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _db(value: datetime) -> datetime:
    # Written and compared in UTC: SQLite stores the text without its offset.
    return value.astimezone(UTC)


def _order(silence: Silence, now: datetime) -> tuple[int, float]:
    state = silence.state(now)
    if state == "active":
        return 0, silence.ends_at.timestamp()
    if state == "pending":
        return 1, silence.starts_at.timestamp()
    return 2, -silence.ends_at.timestamp()


def _values(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "tenant": silence.tenant,
        "matchers": orjson.dumps([m.to_json() for m in silence.matchers]).decode(),
        "starts_at": _db(silence.starts_at),
        "ends_at": _db(silence.ends_at),
        "created_by": silence.created_by,
        "comment": silence.comment,
        "created": _db(silence.created),
        "updated": _db(silence.updated),
    }


def _set(silence_id: str, **values: Any) -> Any:
    values = {k: _db(v) if isinstance(v, datetime) else v for k, v in values.items()}
    return update(silences).where(silences.c.id == silence_id).values(**values)


def _get(con: Connection, tenant: str, silence_id: str) -> Silence | None:
    row = con.execute(select(silences).where(silences.c.tenant == tenant, silences.c.id == silence_id)).first()
    return Silence.from_row(row) if row is not None else None


def _lock(con: Connection) -> None:
    # A write first takes SQLite's writer lock, so reading then writing cannot fail on a stale snapshot.
    con.execute(update(silences).where(false()).values(updated=silences.c.updated))


def _stamp(con: Connection, now: datetime) -> datetime:
    """`now`, or just after the newest change when the clock is not past it (a clock stepped back, two changes
    in one microsecond, a test's fixed clock): `updated` only grows, so `revision()` changes with every write."""
    _lock(con)
    newest = con.execute(select(func.max(silences.c.updated))).scalar()
    if newest is not None and _utc(newest) >= now:
        return _utc(newest) + timedelta(microseconds=1)
    return now
