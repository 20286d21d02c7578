"""The audit log: an append-only record of who did what (logins, keys, users, rule/silence/receiver changes, SQL).

Route handlers record with one call, `await audit(request, "rule.create", name)`; the actor, tenant and client
address come from the request. The repository has no update or delete: entries only age out with the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Engine, insert, select
from starlette.requests import HTTPConnection

from logwarden.auth.principal import principal_of
from logwarden.meta.tables import audit_log

log = logging.getLogger(__name__)

Outcome = Literal["ok", "denied", "failed"]
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited action."""

    id: int
    at: datetime
    tenant: str
    actor: str
    action: str
    target: str
    outcome: str
    client: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "tenant": self.tenant,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "client": self.client,
            "details": self.details,
        }


class AuditLog:
    """Append and read audit entries (blocking: run in the metadata pool)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.clock = clock

    def append(
        self,
        *,
        tenant: str,
        actor: str,
        action: str,
        target: str = "",
        outcome: Outcome = "ok",
        client: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Add one entry, stamped now."""
        with self.engine.begin() as con:
            con.execute(
                insert(audit_log).values(
                    at=self.clock(),
                    tenant=tenant,
                    actor=actor[:200],
                    action=action,
                    target=target[:512],
                    outcome=outcome,
                    client=client[:64],
                    details=orjson.dumps(details or {}, default=str).decode(),
                )
            )

    def search(
        self,
        *,
        tenant: str | None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        before: int | None = None,
        global_entries: bool = True,
    ) -> list[AuditEntry]:
        """Newest first; `tenant`'s entries and the global ones (logins, tenant ""); `action` ending in `.` or `*`
        matches a family (`rule.` → rule.create, rule.delete…); `before` pages back: entries older than that id.
        `global_entries` False: the tenant's own entries only."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(audit_log.c.id < before)
        if tenant is not None:
            query = query.where(audit_log.c.tenant.in_([tenant, ""] if global_entries else [tenant]))
        if actor:
            query = query.where(audit_log.c.actor == actor)
        if action:
            family = action.rstrip("*")
            if action.endswith(("*", ".")):
                query = query.where(audit_log.c.action.startswith(family, autoescape=True))
            else:
                query = query.where(audit_log.c.action == action)
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        with self.engine.connect() as con:
            return [
                AuditEntry(
                    r.id,
                    r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC),
                    r.tenant,
                    r.actor,
                    r.action,
                    r.target,
                    r.outcome,
                    r.client,
                    orjson.loads(r.details),
                )
                for r in con.execute(query)
            ]


def client_address(conn: HTTPConnection) -> str:
    """The caller's address as the server saw it."""
    return conn.client.host if conn.client is not None else ""


async def audit(
    conn: HTTPConnection,
    action: str,
    target: str = "",
    *,
    outcome: Outcome = "ok",
    tenant: str | None = None,
    actor: str | None = None,
    **details: Any,
) -> None:
    """Record `action` on `target` by the request's principal (in its tenant unless `tenant` is given).

    Never fails the request it records: a database error is logged (the action already happened).
    """
    runtime = conn.app.state.runtime  # api.runtime.Runtime (not imported: api depends on auth)
    meta = getattr(runtime, "meta", None)
    if meta is None:
        log.warning("audit: no metadata database; not recorded: %s %s", action, target)
        return
    principal = principal_of(conn)
    who = actor if actor is not None else (principal.identity if principal is not None else "anonymous")
    where = tenant if tenant is not None else (principal.tenant if principal is not None else "")
    client = client_address(conn)
    try:
        await meta.run(
            lambda: AuditLog(meta.engine).append(
                tenant=where, actor=who, action=action, target=target, outcome=outcome, client=client, details=details
            )
        )
    except Exception:
        log.exception("audit: cannot record %s %s by %s", action, target, who)
