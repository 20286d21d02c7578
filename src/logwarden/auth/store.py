"""Users, API keys and browser sessions in the metadata database (blocking calls: run them off the event loop)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from logwarden.auth.credentials import (
    digest,
    hash_password,
    new_api_key,
    new_token,
    same_digest,
    split_api_key,
    verify_password,
)
from logwarden.auth.roles import Role
from logwarden.meta.tables import api_keys, sessions, users
from logwarden.model.tenants import check_tenant

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class AuthStoreError(ValueError):
    """A request the store refuses: a duplicate or unknown name, an invalid role or tenant (message says which)."""


@dataclass(frozen=True, slots=True)
class User:
    """A person who logs in to the console or the API."""

    id: str
    name: str
    tenant: str
    role: Role
    disabled: bool
    created: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored (never its secret)."""

    prefix: str
    name: str
    tenant: str
    role: Role
    created: datetime
    created_by: str
    expires: datetime | None
    revoked: datetime | None

    @property
    def id(self) -> str:
        """How the key is named in listings, logs and the audit log."""
        return f"lw_{self.prefix}"

    def usable(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked is None and (self.expires is None or now < self.expires)


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in browser: its user, and the hash of its CSRF token."""

    token_hash: str
    user: User
    csrf_hash: str
    expires: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just made: the cookie token and the CSRF token (both shown once, to the browser)."""

    token: str
    csrf_token: str
    expires: datetime


class AuthStore:
    """Repository of users, keys and sessions; every time comes from `clock` (tests inject one)."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    # --- users ---------------------------------------------------------------------------------------------

    def add_user(self, name: str, password: str, *, tenant: str, role: Role) -> User:
        """A new user; AuthStoreError when the name is taken or invalid."""
        if not name or len(name) > 128 or any(c.isspace() for c in name):
            raise AuthStoreError(f"invalid user name {name!r}: 1-128 characters, no spaces")
        if len(password) < 8:
            raise AuthStoreError("password too short: use at least 8 characters")
        check_tenant(tenant)
        now = self.clock()
        user = User(uuid.uuid4().hex, name, tenant, Role(role), False, now)
        try:
            with self.engine.begin() as con:
                con.execute(
                    insert(users).values(
                        id=user.id,
                        name=name,
                        tenant=tenant,
                        role=user.role.value,
                        password_hash=hash_password(password),
                        disabled=False,
                        created=now,
                        updated=now,
                    )
                )
        except IntegrityError:
            raise AuthStoreError(f"user {name!r} exists already") from None
        return user

    def users(self) -> list[User]:
        """Every user, by name."""
        with self.engine.connect() as con:
            return [_user(r) for r in con.execute(select(users).order_by(users.c.name))]

    def user(self, name: str) -> User | None:
        with self.engine.connect() as con:
            row = con.execute(select(users).where(users.c.name == name)).first()
        return _user(row) if row is not None else None

    def set_disabled(self, name: str, disabled: bool) -> User:
        """Disable (or enable) a user; a disabled user's sessions end at once."""
        with self.engine.begin() as con:
            row = con.execute(select(users).where(users.c.name == name)).first()
            if row is None:
                raise AuthStoreError(f"no user {name!r}")
            con.execute(update(users).where(users.c.id == row.id).values(disabled=disabled, updated=self.clock()))
            if disabled:
                con.execute(delete(sessions).where(sessions.c.user_id == row.id))
        return User(row.id, row.name, row.tenant, Role(row.role), disabled, _utc(row.created))

    def set_role(self, name: str, role: Role) -> User:
        """Give a user another role in its tenant (its open sessions get it at their next request)."""
        with self.engine.begin() as con:
            row = con.execute(select(users).where(users.c.name == name)).first()
            if row is None:
                raise AuthStoreError(f"no user {name!r}")
            con.execute(update(users).where(users.c.id == row.id).values(role=Role(role).value, updated=self.clock()))
        return User(row.id, row.name, row.tenant, Role(role), bool(row.disabled), _utc(row.created))

    def check_password(self, name: str, password: str) -> User | None:
        """The user when `password` is theirs and they are not disabled; None otherwise (same cost either way)."""
        with self.engine.connect() as con:
            row = con.execute(select(users).where(users.c.name == name)).first()
        ok = verify_password(row.password_hash if row is not None else None, password)
        if row is None or not ok or row.disabled:
            return None
        return _user(row)

    # --- sessions ------------------------------------------------------------------------------------------

    def open_session(self, user: User, ttl: timedelta) -> NewSession:
        """A new session for `user`, valid for at most `ttl`."""
        token, csrf = new_token(), new_token()
        now = self.clock()
        expires = now + ttl
        with self.engine.begin() as con:
            con.execute(
                insert(sessions).values(
                    token_hash=digest(token),
                    user_id=user.id,
                    csrf_hash=digest(csrf),
                    created=now,
                    last_seen=now,
                    expires=expires,
                )
            )
        return NewSession(token, csrf, expires)

    def session(self, token: str, idle_timeout: timedelta) -> Session | None:
        """The live session of a cookie token; None when unknown, expired, idle too long, or its user disabled.
        A use more than a minute after the last one moves `last_seen` (one write a minute, not one a request)."""
        token_hash = digest(token)
        now = self.clock()
        with self.engine.connect() as con:
            row = con.execute(
                select(sessions.c.csrf_hash, sessions.c.expires, sessions.c.last_seen, *users.c)
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.token_hash == token_hash)
            ).first()
        if row is None or row.disabled:
            return None
        expires, last_seen = _utc(row.expires), _utc(row.last_seen)
        if now >= expires or now - last_seen >= idle_timeout:
            self.close_session(token_hash)
            return None
        if now - last_seen >= timedelta(minutes=1):
            with self.engine.begin() as con:
                con.execute(update(sessions).where(sessions.c.token_hash == token_hash).values(last_seen=now))
            last_seen = now
        return Session(token_hash, _user(row), row.csrf_hash, expires, last_seen)

    def close_session(self, token_hash: str) -> None:
        """End a session (logout), by the hash of its token."""
        with self.engine.begin() as con:
            con.execute(delete(sessions).where(sessions.c.token_hash == token_hash))

    # --- API keys ------------------------------------------------------------------------------------------

    def create_key(
        self, *, tenant: str, role: Role, name: str = "", created_by: str = "", expires: datetime | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its full text (shown once; only the hash of its secret is kept)."""
        check_tenant(tenant)
        now = self.clock()
        if expires is not None and expires <= now:
            raise AuthStoreError("the key would expire before it is made: give a future expiry")
        made = new_api_key()
        key = ApiKey(made.prefix, name, tenant, Role(role), now, created_by, expires, None)
        with self.engine.begin() as con:
            con.execute(
                insert(api_keys).values(
                    prefix=made.prefix,
                    secret_hash=made.secret_hash,
                    name=name,
                    tenant=tenant,
                    role=key.role.value,
                    created=now,
                    created_by=created_by,
                    expires=expires,
                    revoked=None,
                )
            )
        return key, made.text

    def keys(self, tenant: str | None = None) -> list[ApiKey]:
        """Every key (of `tenant` when given), newest first."""
        query = select(api_keys).order_by(api_keys.c.created.desc())
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        with self.engine.connect() as con:
            return [_key(r) for r in con.execute(query)]

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key named `lw_<prefix>` (or its full text); AuthStoreError when unknown."""
        prefix = _prefix_of(key_id)
        now = self.clock()
        with self.engine.begin() as con:
            row = con.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
            if row is None:
                raise AuthStoreError(f"no API key {key_id!r} (list them with `logwarden keys list`)")
            if row.revoked is None:
                con.execute(update(api_keys).where(api_keys.c.prefix == prefix).values(revoked=now))
        key = _key(row)
        return dataclasses.replace(key, revoked=key.revoked or now)

    def check_key(self, text: str) -> ApiKey | None:
        """The usable key whose full text is `text`; None when malformed, unknown, wrong, revoked or expired."""
        parts = split_api_key(text)
        if parts is None:
            return None
        prefix, secret = parts
        with self.engine.connect() as con:
            row = con.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
        if row is None or not same_digest(secret, row.secret_hash):
            return None
        key = _key(row)
        return key if key.usable(self.clock()) else None


def _prefix_of(key_id: str) -> str:
    parts = split_api_key(key_id)
    if parts is not None:
        return parts[0]
    return key_id.removeprefix("lw_")


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns: they were stored as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _user(r: Any) -> User:
    return User(r.id, r.name, r.tenant, Role(r.role), bool(r.disabled), _utc(r.created))


def _key(r: Any) -> ApiKey:
    return ApiKey(
        r.prefix,
        r.name,
        r.tenant,
        Role(r.role),
        _utc(r.created),
        r.created_by,
        _utc(r.expires) if r.expires is not None else None,
        _utc(r.revoked) if r.revoked is not None else None,
    )
