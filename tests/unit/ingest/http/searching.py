"""Helpers for the shipper-protocol tests: recent timestamps and what the search API returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient


def recent(minutes_ago: float = 5) -> datetime:
    """A UTC instant a few minutes back (inside the search window), to the microsecond."""
    return datetime.now(UTC) - timedelta(minutes=minutes_ago)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stored(client: TestClient, tenant: str | None = None, **params: str) -> list[dict[str, Any]]:
    """Every stored hit of the last day (newest first) for the tenant, filtered by `params`."""
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    resp = client.get("/api/v1/search", params={"start": "1d", "limit": "1000", **params}, headers=headers)
    assert resp.status_code == 200, resp.text
    hits: list[dict[str, Any]] = resp.json()["hits"]
    return hits


def by_message(hits: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {h["message"]: h for h in hits}
