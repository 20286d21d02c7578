"""Ingest rate limits: token buckets of request body bytes, per credential and per tenant.

`guard_routes` wraps every route whose permission is `ingest` with `IngestRateGate`, inside the permission
gate (the principal is known, unauthenticated requests never reach it). A request is refused with 429, the
reason and Retry-After when a bucket it draws from cannot cover its Content-Length (or, for a body of unknown
length, when the bucket is empty); otherwise its bytes are taken as they arrive, so a chunked body pays too
(and may leave the bucket owing). A body larger than a bucket's burst passes only when that bucket is full.
In memory: each server process has its own buckets.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logwarden.auth.principal import principal_of
from logwarden.auth.tenants import TenantRefusedError, request_tenant
from logwarden.config.limits import IngestRate
from logwarden.config.model import Config


@dataclass(slots=True)
class TokenBucket:
    """`tokens` bytes available (negative: owed), refilled at `rate` per second up to `capacity`."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, size: int) -> float:
        """Seconds until a body of `size` bytes may pass (0: now). Larger than the burst: when the bucket is full."""
        needed = min(float(size), self.capacity) if size > 0 else 1.0
        if self.tokens >= needed:
            return 0.0
        return (needed - self.tokens) / self.rate


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused, and when it may be retried."""

    reason: str
    retry_after: int


class IngestLimiter:
    """The buckets of one server. `clock` is monotonic seconds (tests inject one); at most `max_buckets` buckets
    per kind are kept (the least recently used go: they were full anyway, or nearly)."""

    def __init__(
        self,
        config: Config,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 100_000,
        on_refusal: Callable[[str], object] | None = None,
    ) -> None:
        self.config = config
        self.on_refusal = on_refusal  # called with the route's path per 429 (the ingest metrics count them)
        self.limits = config.limits
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return bool(self.limits.ingest_per_key or self.limits.ingest_per_tenant or self.limits.tenants)

    def buckets_for(self, identity: str, tenant: str | None) -> list[tuple[str, TokenBucket]]:
        """The (description, bucket) pairs a request of `identity` in `tenant` draws from."""
        now = self.clock()
        found: list[tuple[str, TokenBucket]] = []
        if self.limits.ingest_per_key is not None:
            found.append((f"credential {identity}", self._bucket(("key", identity), self.limits.ingest_per_key, now)))
        if tenant is not None:
            rate = self.limits.tenants.get(tenant, self.limits.ingest_per_tenant)
            if rate is not None:
                found.append((f"tenant {tenant}", self._bucket(("tenant", tenant), rate, now)))
        return found

    def check(self, buckets: list[tuple[str, TokenBucket]], size: int) -> Refusal | None:
        """None when a body of `size` bytes (-1: unknown) may start now, else the refusal of the slowest bucket."""
        worst: tuple[float, str, TokenBucket] | None = None
        for name, bucket in buckets:
            wait = bucket.wait_for(size)
            if wait > 0 and (worst is None or wait > worst[0]):
                worst = (wait, name, bucket)
        if worst is None:
            return None
        wait, name, bucket = worst
        return Refusal(
            f"ingest rate limit of {name} exceeded ({_bytes(bucket.rate)}/s, burst {_bytes(bucket.capacity)}): "
            "slow down or ask for a higher limit (limits.* in the server config)",
            max(1, math.ceil(wait)),
        )

    @staticmethod
    def take(buckets: list[tuple[str, TokenBucket]], size: int) -> None:
        """Charge `size` bytes to every bucket (they may go into debt)."""
        for _, bucket in buckets:
            bucket.tokens -= size

    def _bucket(self, key: tuple[str, str], rate: IngestRate, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate.rate or bucket.capacity != rate.capacity:
            bucket = TokenBucket(float(rate.rate), float(rate.capacity), float(rate.capacity), now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.refill(now)
        return bucket


class IngestRateGate:
    """ASGI wrapper of one ingest route: 429 when the caller's or its tenant's bucket is empty, else the route,
    with the body's bytes charged as they are received."""

    def __init__(self, app: ASGIApp, limiter: IngestLimiter, path: str = "") -> None:
        self.app = app
        self.limiter = limiter
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        principal = principal_of(conn)
        try:
            tenant: str | None = request_tenant(conn, self.limiter.config)
        except TenantRefusedError:
            tenant = None  # the route answers that itself; the credential's own bucket still applies
        identity = (
            principal.identity if principal is not None else f"address:{conn.client.host if conn.client else '-'}"
        )
        buckets = self.limiter.buckets_for(identity, tenant)
        length = conn.headers.get("content-length", "")
        size = int(length) if length.isdigit() else -1
        refusal = self.limiter.check(buckets, size)
        if refusal is not None:
            if self.limiter.on_refusal is not None:
                self.limiter.on_refusal(self.path)
            response = JSONResponse(
                {"error": refusal.reason, "retry_after": refusal.retry_after},
                status_code=429,
                headers={"Retry-After": str(refusal.retry_after)},
            )
            await response(scope, receive, send)
            return

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.limiter.take(buckets, len(message.get("body", b"")))
            return message

        await self.app(scope, counted, send)


def _bytes(n: float) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{int(n // size)}{unit}"
    return f"{int(n)}B"
