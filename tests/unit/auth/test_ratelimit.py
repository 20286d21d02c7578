"""Ingest rate limits: token buckets per credential and per tenant, on the ingest routes only (a fake clock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from logwarden.auth.ratelimit import IngestLimiter, TokenBucket
from logwarden.auth.roles import Role
from logwarden.config.loader import ConfigError
from tests.conftest import make_config
from tests.unit.auth.conftest import AuthServer, started


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def body(size: int) -> bytes:
    """One NDJSON line of exactly `size` bytes."""
    line = orjson.dumps({"msg": "", "service": "rl"})
    return orjson.dumps({"msg": "x" * (size - len(line)), "service": "rl"})


def limited(tmp_path: Path, **limits: object) -> Iterator[tuple[AuthServer, FakeClock]]:
    with started(tmp_path, **{f"limits.{k}": v for k, v in limits.items()}) as server:
        clock = FakeClock()
        limiter: IngestLimiter = server.client.app.state.ingest_limiter  # type: ignore[attr-defined]
        limiter.clock = clock
        yield server, clock


@pytest.fixture
def per_key(tmp_path: Path) -> Iterator[tuple[AuthServer, FakeClock]]:
    yield from limited(tmp_path, ingest_per_key={"rate": 1000, "burst": 2000})


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=100.0, capacity=500.0, tokens=500.0, updated=0.0)
    assert bucket.wait_for(500) == 0
    bucket.tokens -= 500
    assert bucket.wait_for(200) == pytest.approx(2.0)
    bucket.refill(1.0)
    assert bucket.tokens == pytest.approx(100.0)
    bucket.refill(100.0)
    assert bucket.tokens == 500.0  # never above the burst
    assert bucket.wait_for(10_000) == 0  # larger than the burst: passes on a full bucket
    bucket.tokens = -50  # owed by a chunked body
    assert bucket.wait_for(-1) == pytest.approx(0.51)


def test_a_key_over_its_limit_gets_429_with_the_reason_and_retry_after(per_key: tuple[AuthServer, FakeClock]) -> None:
    server, clock = per_key
    http = server.client
    ingest = server.headers("alpha", Role.INGEST)
    assert http.post("/api/v1/ingest", content=body(1500), headers=ingest).status_code == 200
    refused = http.post("/api/v1/ingest", content=body(1000), headers=ingest)
    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"] == "1"  # 500 bytes missing at 1000 bytes/s
    key_id = server.keys[("alpha", Role.INGEST)].split("_")[1]
    assert f"ingest rate limit of credential key:lw_{key_id} exceeded" in refused.json()["error"]
    assert "1000B/s, burst 2000B" in refused.json()["error"]
    # Another key of the same tenant has its own bucket.
    other = server.headers("alpha", Role.ADMIN)
    assert http.post("/api/v1/ingest", content=body(1000), headers=other).status_code == 200
    clock.now += 0.5
    assert http.post("/api/v1/ingest", content=body(1000), headers=ingest).status_code == 200


def test_other_routes_are_not_limited(per_key: tuple[AuthServer, FakeClock]) -> None:
    server, _ = per_key
    admin = server.headers("alpha", Role.ADMIN)
    assert server.client.post("/api/v1/ingest", content=body(2000), headers=admin).status_code == 200
    assert server.client.post("/api/v1/ingest", content=body(100), headers=admin).status_code == 429
    for _ in range(3):
        assert server.client.get("/api/v1/search", params={"q": "rl"}, headers=admin).status_code == 200


def test_every_ingest_protocol_is_limited(per_key: tuple[AuthServer, FakeClock]) -> None:
    server, _ = per_key
    ingest = server.headers("alpha", Role.INGEST)
    assert server.client.post("/api/v1/ingest", content=body(2000), headers=ingest).status_code == 200
    bulk = b'{"index": {"_index": "logs"}}\n{"message": "m"}\n'
    assert server.client.post("/_bulk", content=bulk, headers=ingest).status_code == 429
    loki = {"streams": [{"stream": {"service": "x"}, "values": [["1", "m"]]}]}
    assert server.client.post("/loki/api/v1/push", json=loki, headers=ingest).status_code == 429
    metrics = server.client.get("/metrics").text  # each refusal counted by route
    assert 'logwarden_refused_requests_total{route="/loki/api/v1/push",status="429"} 1.0' in metrics
    assert 'logwarden_refused_requests_total{route="/_bulk",status="429"} 1.0' in metrics


def test_a_body_without_length_pays_as_it_streams(per_key: tuple[AuthServer, FakeClock]) -> None:
    server, _ = per_key
    ingest = server.headers("alpha", Role.INGEST)

    def chunks() -> Iterator[bytes]:
        yield body(1500)
        yield b"\n"
        yield body(1500)

    assert server.client.post("/api/v1/ingest", content=chunks(), headers=ingest).status_code == 200
    refused = server.client.post("/api/v1/ingest", content=chunks(), headers=ingest)
    assert refused.status_code == 429  # the first one left the bucket owing 1001 bytes
    assert refused.headers["Retry-After"] == "2"


def test_a_tenant_limit_is_shared_by_its_keys_and_can_be_overridden(tmp_path: Path) -> None:
    tenant_limits = {"ingest_per_tenant": {"rate": 1000}, "tenants": {"bravo": {"rate": "10KiB"}}}
    for server, _ in limited(tmp_path, **tenant_limits):
        http = server.client
        assert http.post("/api/v1/ingest", content=body(900), headers=server.headers("alpha", Role.INGEST)).is_success
        refused = http.post("/api/v1/ingest", content=body(900), headers=server.headers("alpha", Role.ADMIN))
        assert refused.status_code == 429 and "of tenant alpha exceeded (1000B/s" in refused.json()["error"]
        bravo = server.headers("bravo", Role.INGEST)
        assert http.post("/api/v1/ingest", content=body(5000), headers=bravo).status_code == 200


def test_a_limit_of_zero_or_an_unknown_tenant_name_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"limits\.ingest_per_key\.rate"):
        make_config(tmp_path, **{"limits.ingest_per_key": {"rate": 0}})
    with pytest.raises(ConfigError, match=r"limits\.tenants"):
        make_config(tmp_path, **{"limits.tenants": {"Bad Name!": {"rate": 10}}})
