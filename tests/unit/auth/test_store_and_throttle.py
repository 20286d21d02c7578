"""The repository with an injected clock (session idle and absolute expiry, key expiry), the key cache and the
login throttle's backoff."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from logwarden.auth.backend import KeyCache
from logwarden.auth.credentials import split_api_key
from logwarden.auth.principal import local_admin
from logwarden.auth.roles import Role
from logwarden.auth.store import AuthStore, AuthStoreError
from logwarden.auth.throttle import LoginThrottle
from logwarden.meta.db import MetaDB
from logwarden.meta.tables import api_keys, users

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store() -> Iterator[AuthStore]:
    db = MetaDB("sqlite://")
    try:
        yield AuthStore(db.engine, clock=Clock(T0))
    finally:
        db.close()


def _clock(store: AuthStore) -> Clock:
    assert isinstance(store.clock, Clock)
    return store.clock


def test_keys_are_shown_once_and_stored_as_hashes(store: AuthStore) -> None:
    key, text = store.create_key(tenant="alpha", role=Role.INGEST, name="vector")
    parts = split_api_key(text)
    assert parts is not None and parts[0] == key.prefix and text.startswith(f"lw_{key.prefix}_")
    with store.engine.connect() as con:
        stored = " ".join(str(v) for row in con.execute(api_keys.select()) for v in row)
    assert parts[1] not in stored  # the secret is nowhere in the table
    assert store.check_key(text) == key
    assert store.check_key(text[:-1] + ("A" if text[-1] != "A" else "B")) is None


def test_a_key_expires_at_its_time_and_a_revoked_one_stays_revoked(store: AuthStore) -> None:
    _, text = store.create_key(tenant="alpha", role=Role.VIEWER, expires=T0 + timedelta(days=90))
    _clock(store).now = T0 + timedelta(days=90) - timedelta(seconds=1)
    assert store.check_key(text) is not None
    _clock(store).now = T0 + timedelta(days=90)
    assert store.check_key(text) is None
    other, other_text = store.create_key(tenant="alpha", role=Role.VIEWER)
    assert store.revoke_key(other.id).revoked == _clock(store).now
    assert store.check_key(other_text) is None
    with pytest.raises(AuthStoreError, match="no API key"):
        store.revoke_key("lw_000000000000")
    with pytest.raises(AuthStoreError, match="expire before"):
        store.create_key(tenant="alpha", role=Role.VIEWER, expires=_clock(store).now)


def test_sessions_end_after_idle_time_and_at_their_absolute_expiry(store: AuthStore) -> None:
    user = store.add_user("alice", "correct horse", tenant="alpha", role=Role.VIEWER)
    idle = timedelta(minutes=30)
    session = store.open_session(user, timedelta(hours=2))
    clock = _clock(store)
    for _ in range(3):  # used every 29 minutes: each use extends it
        clock.now += timedelta(minutes=29)
        assert store.session(session.token, idle) is not None
    clock.now += timedelta(minutes=30)
    assert store.session(session.token, idle) is None  # idle too long (and deleted)
    again = store.open_session(user, timedelta(hours=2))
    for _ in range(4):
        clock.now += timedelta(minutes=29)
        assert store.session(again.token, idle) is not None
    clock.now += timedelta(minutes=5)  # 2 h 1 min after login, though used 5 minutes ago
    assert store.session(again.token, idle) is None


def test_passwords_are_argon2id_and_names_unique(store: AuthStore) -> None:
    store.add_user("alice", "correct horse", tenant="alpha", role=Role.ADMIN)
    with store.engine.connect() as con:
        stored = con.execute(users.select()).one().password_hash
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert store.check_password("alice", "correct horse") is not None
    assert store.check_password("alice", "Correct horse") is None
    assert store.check_password("nobody", "correct horse") is None
    with pytest.raises(AuthStoreError, match="exists already"):
        store.add_user("alice", "another one", tenant="alpha", role=Role.VIEWER)
    with pytest.raises(AuthStoreError, match="too short"):
        store.add_user("bob", "short", tenant="alpha", role=Role.VIEWER)


def test_the_key_cache_forgets_after_its_ttl() -> None:
    now = [100.0]
    cache = KeyCache(10, clock=lambda: now[0])
    cache.put("h", local_admin("alpha"))
    now[0] += 9.9
    assert cache.get("h") is not None
    now[0] += 0.1
    assert cache.get("h") is None
    off = KeyCache(0, clock=lambda: now[0])
    off.put("h", local_admin("alpha"))
    assert off.get("h") is None


def test_the_throttle_backs_off_exponentially_up_to_the_lockout() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=3, lockout_seconds=60, clock=lambda: now[0])
    waits = []
    for _ in range(10):
        throttle.failed("alice", "10.0.0.1")
        waits.append(throttle.retry_after("alice", "10.0.0.9"))  # per user: another address waits too
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert throttle.retry_after("bob", "10.0.0.1") == 60  # per address: another user from there waits too
    assert throttle.retry_after("bob", "10.0.0.2") == 0
    now[0] += 60
    assert throttle.retry_after("alice", "10.0.0.1") == 0  # the lockout window is over
    throttle.failed("alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == 0  # and the old failures are forgotten
    throttle.succeeded("alice", "10.0.0.1")
