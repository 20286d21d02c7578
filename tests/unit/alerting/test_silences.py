"""Silences: the store on a real SQLite file and in-memory SQLite (states, tenants, Alertmanager's editing rules,
expiry, retention, the revision token) and the Silencer muter (tenant, time, matchers, its cache and reloads), all
on a fixed clock."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from logwarden.alerting.matchers import parse_matchers
from logwarden.alerting.mute.silence import (
    Silence,
    SilenceError,
    SilenceExpiredError,
    Silencer,
    SilenceStore,
)
from logwarden.meta.db import MetaDB, default_url

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
API = parse_matchers(['service="api"'])
API_LABELS = {"alertname": "error-burst", "service": "api", "tenant": "default"}


@pytest.fixture(params=["file", "memory"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> MetaDB:
    url = default_url(tmp_path) if request.param == "file" else "sqlite://"
    meta = MetaDB(url)
    request.addfinalizer(meta.close)
    return meta


@pytest.fixture
def store(db: MetaDB) -> SilenceStore:
    return SilenceStore(db.engine)


def make(store: SilenceStore, tenant: str = "default", matchers: str = 'service="api"', **kw: object) -> Silence:
    start = kw.pop("start", T0)
    end = kw.pop("end", T0 + 2 * H)
    now = kw.pop("now", T0)
    assert isinstance(start, datetime) and isinstance(end, datetime) and isinstance(now, datetime)
    return store.create(tenant, parse_matchers(matchers), start, end, "ana", "deploying 1.4", now)


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


# --- the store ---------------------------------------------------------------------------------------------


def test_create_get_and_states(store: SilenceStore) -> None:
    made = make(store, matchers='{service="api", severity=~"warning|info"}')
    assert store.get("default", made.id) == made
    assert (made.starts_at, made.ends_at, made.created, made.updated) == (T0, T0 + 2 * H, T0, T0)
    assert made.starts_at.tzinfo is not None and made.created_by == "ana" and made.comment == "deploying 1.4"
    assert made.matchers_text() == '{service="api", severity=~"warning|info"}'
    assert made.state(T0 - timedelta(seconds=1)) == "pending"
    assert made.state(T0) == "active"
    assert made.state(T0 + 2 * H - timedelta(microseconds=1)) == "active"
    assert made.state(T0 + 2 * H) == "expired"
    assert made.to_json(T0) == {
        "id": made.id,
        "matchers": [
            {"name": "service", "type": "=", "value": "api"},
            {"name": "severity", "type": "=~", "value": "warning|info"},
        ],
        "starts_at": "2026-03-02T12:00:00Z",
        "ends_at": "2026-03-02T14:00:00Z",
        "created_by": "ana",
        "comment": "deploying 1.4",
        "created": "2026-03-02T12:00:00Z",
        "updated": "2026-03-02T12:00:00Z",
        "state": "active",
    }


def test_a_start_in_the_past_becomes_now_and_times_in_other_zones_are_instants(store: SilenceStore) -> None:
    made = make(store, start=T0 - H)
    assert made.starts_at == T0 and store.get("default", made.id) == made
    berlin = datetime.fromisoformat("2026-03-02T15:00:00+01:00")  # 14:00 UTC
    pending = make(store, start=berlin, end=berlin + H)
    assert store.get("default", pending.id) == pending
    assert pending.starts_at == T0 + 2 * H and pending.state(T0) == "pending"


@pytest.mark.parametrize(
    ("matchers", "start", "end", "author", "comment", "message"),
    [
        ([], T0, T0 + H, "ana", "x", "matchers: give at least one matcher"),
        (['a=~".*"'], T0, T0 + H, "ana", "x", "would mute every alert"),
        (['a!="x"', 'b=""', 'c!~"y"'], T0, T0 + H, "ana", "x", "would mute every alert"),
        (['service="api"'], T0 + H, T0 + H, "ana", "x", "ends_at (2026-03-02T13:00:00Z) must be after starts_at"),
        (['service="api"'], T0, T0 - H, "ana", "x", "ends_at (2026-03-02T11:00:00Z) is in the past"),
        (['service="api"'], T0, T0, "ana", "x", "is in the past (now is 2026-03-02T12:00:00Z)"),
        (['service="api"'], T0 + 2 * H, T0 + H, "ana", "x", "must be after starts_at"),
        (['service="api"'], T0, T0 + H, " ", "x", "created_by: say who"),
        (['service="api"'], T0, T0 + H, "a" * 201, "x", "created_by is too long"),
        (['service="api"'], T0, T0 + H, "ana", "", "comment: say why"),
    ],
)
def test_refused_silences(
    store: SilenceStore,
    matchers: list[str],
    start: datetime,
    end: datetime,
    author: str,
    comment: str,
    message: str,
) -> None:
    with pytest.raises(SilenceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        store.create("default", parse_matchers(matchers), start, end, author, comment, T0)
    assert store.list("default", now=T0) == []


def test_an_end_in_the_past_is_refused_and_a_matcher_needing_a_value_is_enough(store: SilenceStore) -> None:
    with pytest.raises(SilenceError, match=r"ends_at \(2026-03-02T11:00:00Z\) is in the past"):
        store.create("default", API, T0 - 2 * H, T0 - H, "ana", "x", T0)
    made = store.create("default", parse_matchers(['a=~".*"', 'host=~"web-.+"']), T0, T0 + H, "ana", "x", T0)
    assert made.matches({"host": "web-1", "tenant": "default"})
    assert not made.matches({"host": "db-1", "tenant": "default"})


def test_every_call_is_scoped_to_its_tenant(store: SilenceStore) -> None:
    mine = make(store, "acme")
    assert store.get("globex", mine.id) is None
    assert store.list("globex", now=T0) == []
    assert store.expire("globex", mine.id, T0) is None
    assert store.update("globex", mine.id, comment="mine now", now=T0) is None
    assert store.get("acme", mine.id) == mine  # untouched
    assert [s.id for s in store.active(T0)] == [mine.id]  # the router sees every tenant's


def test_list_filters_by_state_and_orders_active_pending_expired(store: SilenceStore) -> None:
    active_late = make(store, end=T0 + 3 * H)
    active_soon = make(store, end=T0 + H)
    pending_late = make(store, start=T0 + 5 * H, end=T0 + 6 * H)
    pending_soon = make(store, start=T0 + 2 * H, end=T0 + 6 * H)
    expired_old = make(store, end=T0 + H)
    expired_new = make(store, end=T0 + H)
    later = T0 + 30 * timedelta(minutes=1)
    assert store.expire("default", expired_old.id, later) is not None
    assert store.expire("default", expired_new.id, later + timedelta(minutes=1)) is not None
    now = later + timedelta(minutes=5)
    ids = [s.id for s in store.list("default", now=now)]
    expected = [active_soon, active_late, pending_soon, pending_late, expired_new, expired_old]
    assert ids == [s.id for s in expected]
    assert [s.id for s in store.list("default", "active", now)] == [active_soon.id, active_late.id]
    assert [s.id for s in store.list("default", "pending", now)] == [pending_soon.id, pending_late.id]
    assert [s.id for s in store.list("default", "expired", now)] == [expired_new.id, expired_old.id]
    assert {s.id for s in store.active(now)} == {active_soon.id, active_late.id}
    assert {s.id for s in store.unexpired(now)} == {s.id for s in expected[:4]}


def test_expire(store: SilenceStore) -> None:
    active = make(store)
    later = T0 + 10 * timedelta(minutes=1)
    ended = store.expire("default", active.id, later)
    assert ended is not None and ended.id == active.id
    assert (ended.starts_at, ended.ends_at, ended.updated) == (T0, later, later)
    assert ended.state(later) == "expired" and store.get("default", active.id) == ended
    # Expiring again changes nothing.
    assert store.expire("default", active.id, later + H) == ended
    # A pending silence never starts.
    pending = make(store, start=T0 + H, end=T0 + 2 * H)
    gone = store.expire("default", pending.id, later)
    assert gone is not None and (gone.starts_at, gone.ends_at) == (later, later)
    assert all(gone.state(later + timedelta(minutes=m)) == "expired" for m in (0, 50, 70))
    assert store.expire("default", "no-such-id", later) is None


def test_editing_follows_alertmanager(store: SilenceStore) -> None:
    later = T0 + 10 * timedelta(minutes=1)
    active = make(store)
    # An active silence keeps its id when its end, comment or author change …
    extended = store.update("default", active.id, ends_at=T0 + 5 * H, comment="takes longer", now=later)
    assert extended is not None and extended.id == active.id
    assert (extended.starts_at, extended.ends_at, extended.comment, extended.created_by) == (
        T0,
        T0 + 5 * H,
        "takes longer",
        "ana",
    )
    assert (extended.created, extended.updated) == (T0, later)
    assert store.get("default", active.id) == extended
    # … but new matchers expire it now and make a new silence.
    soon = later + timedelta(minutes=1)
    web = store.update("default", active.id, matchers=parse_matchers(['service="web"']), now=soon)
    assert web is not None and web.id != active.id
    assert (web.starts_at, web.ends_at, web.created, web.comment) == (soon, T0 + 5 * H, soon, "takes longer")
    old = store.get("default", active.id)
    assert old is not None and old.ends_at == soon and old.matchers == tuple(API)
    assert [s.id for s in store.list("default", "active", soon)] == [web.id]
    later = soon + timedelta(minutes=1)
    # So does a new start (moved into the future: the new one is pending).
    moved = store.update("default", web.id, starts_at=T0 + H, now=later)
    assert moved is not None and moved.id not in (web.id, active.id) and moved.state(later) == "pending"
    # A pending silence is edited in place, matchers included.
    again = store.update(
        "default", moved.id, matchers=parse_matchers(['service="db"']), starts_at=T0 + 2 * H, now=later
    )
    assert again is not None and again.id == moved.id and again.matchers == tuple(parse_matchers(['service="db"']))
    # An expired one cannot be edited.
    with pytest.raises(SilenceExpiredError, match="an expired silence cannot be edited"):
        store.update("default", active.id, comment="revive", now=later)
    # The result must be a valid silence.
    with pytest.raises(SilenceError, match="in the past"):
        store.update("default", again.id, ends_at=T0, now=later)
    with pytest.raises(SilenceError, match="would mute every alert"):
        store.update("default", again.id, matchers=parse_matchers(['a=~".*"']), now=later)
    assert store.get("default", again.id) == again
    assert store.update("default", "no-such-id", comment="x", now=later) is None


def test_gc_deletes_silences_expired_longer_than_the_retention(store: SilenceStore) -> None:
    old = make(store, end=T0 + H)
    recent = make(store, end=T0 + 3 * H)
    pending = make(store, start=T0 + 24 * H, end=T0 + 200 * H)
    retention = timedelta(days=5)
    # `old` expired at T0+1h, `recent` at T0+3h: 5 days and 2 hours later only `old` is past the retention.
    now = T0 + retention + 2 * H
    assert store.gc(now, retention) == 1
    assert store.get("default", old.id) is None
    assert store.get("default", recent.id) is not None and store.get("default", pending.id) is not None
    assert store.gc(now, retention) == 0


def test_the_revision_changes_with_every_change_even_at_one_instant(store: SilenceStore) -> None:
    seen = [store.revision()]

    def changed() -> None:
        revision = store.revision()
        assert revision not in seen
        seen.append(revision)

    made = make(store)
    changed()
    assert store.revision() == seen[-1]  # reading changes nothing
    store.update("default", made.id, comment="same instant", now=T0)
    changed()
    store.expire("default", made.id, T0)
    changed()
    store.expire("default", made.id, T0)  # already expired: no change
    assert store.revision() == seen[-1]
    make(store)
    changed()
    make(store, end=T0 + timedelta(days=90))
    changed()
    assert store.gc(T0 + timedelta(days=30), timedelta(days=5)) == 2
    changed()
    assert store.gc(T0 + timedelta(days=30), timedelta(days=5)) == 0
    assert store.revision() == seen[-1]


def test_silences_survive_a_restart(tmp_path: Path) -> None:
    first = MetaDB(default_url(tmp_path))
    made = make(SilenceStore(first.engine))
    first.close()
    second = MetaDB(default_url(tmp_path))
    try:
        assert SilenceStore(second.engine).get("default", made.id) == made
    finally:
        second.close()


# --- the muter ---------------------------------------------------------------------------------------------


def test_a_silence_mutes_its_tenants_matching_alerts_while_active(store: SilenceStore) -> None:
    made = make(store, start=T0 + H, end=T0 + 2 * H)
    silencer = Silencer(store)
    assert not silencer.mutes(API_LABELS, T0)  # pending
    assert silencer.mutes(API_LABELS, T0 + H)
    assert silencer.muted_by(API_LABELS, T0 + H) == [made.id]
    assert not silencer.mutes(API_LABELS, T0 + 2 * H)  # expired
    assert not silencer.mutes({**API_LABELS, "service": "web"}, T0 + H)
    assert not silencer.mutes({**API_LABELS, "tenant": "acme"}, T0 + H)  # another tenant's alert
    no_tenant = {k: v for k, v in API_LABELS.items() if k != "tenant"}
    assert not silencer.mutes(no_tenant, T0 + H)
    also = make(store, matchers='alertname=~"error-.*"', start=T0 + H, end=T0 + 3 * H)
    silencer.invalidate()
    assert sorted(silencer.muted_by(API_LABELS, T0 + H)) == sorted([made.id, also.id])
    berlin = (T0 + H).astimezone(datetime.fromisoformat("2026-03-02T00:00:00+01:00").tzinfo)
    assert silencer.mutes(API_LABELS, berlin)


def test_the_silencer_reloads_when_the_revision_changed_at_most_every_refresh(store: SilenceStore) -> None:
    clock = FakeClock()
    silencer = Silencer(store, refresh=1.0, clock=clock)
    assert not silencer.mutes(API_LABELS, T0) and silencer.loads == 1
    made = make(store)
    clock.t += 0.5
    assert not silencer.mutes(API_LABELS, T0)  # not checked yet
    clock.t += 0.5
    assert silencer.mutes(API_LABELS, T0) and silencer.loads == 2  # checked: changed, reloaded
    clock.t += 5
    assert silencer.mutes(API_LABELS, T0) and silencer.loads == 2  # checked: unchanged, not reloaded
    store.expire("default", made.id, T0 + timedelta(minutes=1))
    assert silencer.mutes(API_LABELS, T0)  # within refresh: the cache
    silencer.invalidate()  # what the API does after a change
    assert not silencer.mutes(API_LABELS, T0 + timedelta(minutes=1)) and silencer.loads == 3
    assert silencer.loads == 3


def test_the_silencer_keeps_its_cache_when_the_database_fails(db: MetaDB, caplog: pytest.LogCaptureFixture) -> None:
    store = SilenceStore(db.engine)
    make(store)
    clock = FakeClock()
    silencer = Silencer(store, refresh=1.0, clock=clock)
    assert silencer.mutes(API_LABELS, T0)
    with db.engine.begin() as con:
        con.execute(text("ALTER TABLE silences RENAME TO silences_away"))
    clock.t += 2
    with caplog.at_level(logging.WARNING, logger="logwarden.alerting.mute.silence"):
        assert silencer.mutes(API_LABELS, T0)
    assert "cannot read the silences (keeping the 1 cached)" in caplog.text
    with db.engine.begin() as con:
        con.execute(text("ALTER TABLE silences_away RENAME TO silences"))
    store.expire("default", store.list("default", now=T0)[0].id, T0)
    clock.t += 2
    assert not silencer.mutes(API_LABELS, T0)
