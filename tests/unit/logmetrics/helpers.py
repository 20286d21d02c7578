"""Batches as the bus hands them, and a settable clock, for the log metrics tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from logwarden.bus.base import BusBatch
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.store.arrival import with_seq

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # fixed: no test depends on today's date


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def stored(seq: int, records: list[dict[str, Any]], tenant: str = "default") -> BusBatch:
    """A durable batch of `records` as the bus hands it."""
    body = b"\n".join(orjson.dumps(r) for r in records)
    table = normalize(decode_json_body(body).records, BatchContext(tenant, "http", T0))
    return BusBatch(seq, with_seq(seq, table))


def line(seconds: float, service: str = "api", level: str = "info", msg: str = "ok", **attrs: Any) -> dict[str, Any]:
    """One record `seconds` after T0."""
    return {
        "ts": (T0 + timedelta(seconds=seconds)).isoformat(),
        "service": service,
        "level": level,
        "msg": msg,
        **attrs,
    }
