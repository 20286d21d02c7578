"""Attribute limits: a record over `limits.max_fields_per_record`, or bringing a key past its tenant's
`limits.max_attr_keys_per_tenant`, is stored whole as a dead letter with the reason, and the client is told."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from logwarden.auth.roles import Role
from logwarden.ingest.attr_limits import AttrLimits, KeyCatalog
from logwarden.model.normalize import PREBUILT_ATTRS, BatchContext, widen
from tests.unit.auth.conftest import AuthServer, started


def _send(server: AuthServer, tenant: str, *records: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body = b"\n".join(orjson.dumps({"ts": now, "service": "api", **r}) for r in records)
    resp = server.client.post("/api/v1/ingest", content=body, headers=server.headers(tenant, Role.INGEST))
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def _dead_letters(server: AuthServer, tenant: str) -> list[dict[str, Any]]:
    resp = server.client.get(
        "/api/v1/search", params={"start": "1h", "source": "dead_letter"}, headers=server.headers(tenant, Role.ADMIN)
    )
    hits: list[dict[str, Any]] = resp.json()["hits"]
    return hits


def test_a_record_over_the_field_cap_is_a_dead_letter_with_every_field(tmp_path: Path) -> None:
    with started(tmp_path, **{"limits.max_fields_per_record": 3}) as server:
        wide = {f"f{i}": i for i in range(5)}
        answer = _send(server, "alpha", {"msg": "small", "a": 1, "b": 2}, {"msg": "wide", **wide})
        assert answer["accepted"] == 1 and answer["rejected"] == 1
        assert "more than 3 fields" in answer["rejected_reason"]
        (dead,) = _dead_letters(server, "alpha")
        assert dead["message"] == "wide"
        assert dead["attrs"]["error"] == (
            "the record has 5 fields, more than the 3 allowed (limits.max_fields_per_record)"
        )
        assert orjson.loads(dead["attrs"]["original_attrs"]) == wide  # nothing lost
        assert set(dead["attrs"]) == {"error", "original_source", "original_attrs"}  # and no key of its own
        metrics = server.client.get("/metrics").text
        assert 'reason="too_many_fields",source="http",tenant="alpha"} 1.0' in metrics


def test_keys_past_the_tenant_cap_are_refused_by_name_other_tenants_unaffected(tmp_path: Path) -> None:
    with started(tmp_path, **{"limits.max_attr_keys_per_tenant": 3}) as server:
        assert _send(server, "alpha", {"msg": "one", "a": 1, "b": 2})["rejected"] == 0
        # c and d are both new; one key of room: the more frequent (then the first by name) is admitted.
        answer = _send(server, "alpha", {"msg": "two", "c": 1}, {"msg": "three", "d": 1}, {"msg": "four", "a": 5})
        assert answer["accepted"] == 2 and answer["rejected"] == 1
        assert "'d'" in answer["rejected_reason"] and "limits.max_attr_keys_per_tenant" in answer["rejected_reason"]
        (dead,) = _dead_letters(server, "alpha")
        assert (
            dead["message"] == "three" and "attribute key 'd' would take tenant 'alpha' past" in dead["attrs"]["error"]
        )
        # Known keys still pass; tenant bravo has its own room.
        assert _send(server, "alpha", {"msg": "five", "a": 1, "c": 2})["rejected"] == 0
        assert _send(server, "bravo", {"msg": "six", "d": 1, "e": 2})["rejected"] == 0
        metrics = server.client.get("/metrics").text
        assert 'logwarden_rejected_attr_keys_total{tenant="alpha"} 1.0' in metrics
        assert 'reason="attr_key_limit",source="http",tenant="alpha"} 1.0' in metrics


def test_the_key_catalog_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "attr_keys.json"
    assert KeyCatalog(path).admit("alpha", ["a", "b", "c"], cap=2) == {"c"}
    again = KeyCatalog(path)
    assert again.count("alpha") == 2 and again.admit("alpha", ["a", "c"], cap=2) == {"c"}


def test_keys_of_the_per_record_decode_fallback_count_too() -> None:
    ctx = BatchContext("alpha", "http", datetime.now(UTC))
    raw = pa.table({"msg": ["x", "y"], PREBUILT_ATTRS: ['{"k1": 1, "k2": 2, "k3": 3}', '{"k1": 1}']})
    limits = AttrLimits(max_fields=2, max_keys=None, catalog=KeyCatalog(None))
    outcome = limits.apply(widen(raw, ctx), "alpha")
    assert outcome.kept.column("message").to_pylist() == ["y"]
    assert outcome.dead is not None and outcome.dead.column("message").to_pylist() == ["x"]


def test_no_limits_change_nothing(tmp_path: Path) -> None:
    with started(tmp_path) as server:
        answer = _send(server, "alpha", {"msg": "wide", **{f"f{i}": i for i in range(300)}})
        assert answer == {"accepted": 1, "rejected": 0}
