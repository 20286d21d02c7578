"""/api/v1/silences on the in-process app: the body's forms, every refusal a 400 naming the field, tenants, expiry
by DELETE, Alertmanager's editing rules through PUT, the router's silencer seeing a change at once, and the OpenAPI
paths of api/openapi_silences.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.api.openapi import build_document
from logwarden.api.openapi_silences import silences_paths
from tests.conftest import make_config

ACME = {"X-Scope-OrgID": "acme"}
URL = "/api/v1/silences"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    config = make_config(Path(tmp_path_factory.mktemp("silences-api")))
    with TestClient(create_app(config, run_maintenance=False)) as c:
        yield c


def body(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "matchers": ['service="api"', 'severity=~"warning|info"'],
        "duration": "2h",
        "created_by": "ana",
        "comment": "deploying 1.4",
    }
    out.update(overrides)
    return {k: v for k, v in out.items() if v is not None}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def create(client: TestClient, headers: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    r = client.post(URL, json=body(**overrides), headers=headers or {})
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


def test_create_then_read_and_list(client: TestClient) -> None:
    before = datetime.now(UTC)
    made = create(client)
    after = datetime.now(UTC)
    assert made["matchers"] == [
        {"name": "service", "type": "=", "value": "api"},
        {"name": "severity", "type": "=~", "value": "warning|info"},
    ]
    assert before <= when(made["starts_at"]) <= after  # starts now by default
    assert when(made["ends_at"]) - when(made["starts_at"]) == timedelta(hours=2)
    assert (made["created_by"], made["comment"], made["state"]) == ("ana", "deploying 1.4", "active")
    assert client.get(f"{URL}/{made['id']}").json() == made
    assert made["id"] in [s["id"] for s in client.get(URL).json()["silences"]]
    assert made["id"] in [s["id"] for s in client.get(URL, params={"state": "active"}).json()["silences"]]
    assert made["id"] not in [s["id"] for s in client.get(URL, params={"state": "pending"}).json()["silences"]]


@pytest.mark.parametrize(
    "matchers",
    [
        '{service="api", severity=~"warning|info"}',
        ['service="api"', 'severity=~"warning|info"'],
        ["service=api", 'severity=~"warning|info"'],
        [{"name": "service", "type": "=", "value": "api"}, {"name": "severity", "type": "=~", "value": "warning|info"}],
        [  # Alertmanager's API form
            {"name": "service", "value": "api", "isRegex": False},
            {"name": "severity", "value": "warning|info", "isRegex": True, "isEqual": True},
        ],
    ],
)
def test_the_forms_of_matchers(client: TestClient, matchers: Any) -> None:
    made = create(client, matchers=matchers)
    assert [(m["name"], m["type"], m["value"]) for m in made["matchers"]] == [
        ("service", "=", "api"),
        ("severity", "=~", "warning|info"),
    ]


def test_alertmanager_negative_matchers(client: TestClient) -> None:
    made = create(
        client,
        matchers=[
            {"name": "service", "value": "api", "isEqual": True},
            {"name": "host", "value": "web-1", "isEqual": False},
            {"name": "env", "value": "dev|test", "isRegex": True, "isEqual": False},
        ],
    )
    assert [m["type"] for m in made["matchers"]] == ["=", "!=", "!~"]


def test_times_ends_at_and_a_future_start(client: TestClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now + timedelta(hours=1), now + timedelta(hours=3)
    pending = create(client, duration=None, starts_at=iso(start), ends_at=iso(end))
    assert (when(pending["starts_at"]), when(pending["ends_at"]), pending["state"]) == (start, end, "pending")
    assert pending["id"] in [s["id"] for s in client.get(URL, params={"state": "pending"}).json()["silences"]]
    relative = create(client, duration=None, ends_at="now+90m")
    assert timedelta(minutes=89) < when(relative["ends_at"]) - now < timedelta(minutes=95)
    # A duration counts from the start; a start in the past becomes now.
    later = create(client, starts_at=iso(start), duration="30m")
    assert when(later["ends_at"]) == start + timedelta(minutes=30)
    past = create(client, starts_at=iso(now - timedelta(hours=1)), duration="3h")
    assert now <= when(past["starts_at"]) and when(past["ends_at"]) == now + timedelta(hours=2)
    seconds = create(client, duration=600)
    assert when(seconds["ends_at"]) - when(seconds["starts_at"]) == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"matchers": None}, "matchers: required"),
        ({"matchers": []}, "matchers: give at least one matcher"),
        ({"matchers": ['a=~".*"']}, 'matchers: a=~".*" also match alerts without these labels'),
        ({"matchers": ['a!="x"', 'b=""']}, "would mute every alert"),
        ({"matchers": ["service"]}, "matchers: invalid matcher 'service'"),
        ({"matchers": ['host=~"web-("']}, "invalid regular expression"),
        ({"matchers": 42}, "matchers: give a list"),
        ({"matchers": [{"service": "api"}]}, "needs name, type and value"),
        ({"matchers": [{"name": "a", "type": "==", "value": "b"}]}, "matchers: type '==' is not one of =, !=, =~, !~"),
        ({"matchers": [{"name": "", "type": "=", "value": "b"}]}, "matchers: every matcher needs a label name"),
        ({"duration": None}, "ends_at or duration is required"),
        ({"ends_at": "now+1h"}, "duration: give ends_at or duration, not both"),
        ({"duration": "soon"}, "duration: invalid duration 'soon'"),
        ({"duration": "0s"}, "duration: must be positive"),
        ({"duration": -5}, "duration: must be positive"),
        ({"duration": 1e300}, "is too long"),
        ({"duration": "100000000d"}, "duration: '100000000d' is too long"),
        ({"duration": None, "ends_at": "now-1h"}, "is in the past"),
        ({"duration": None, "ends_at": "2020-01-01T00:00:00Z"}, "ends_at (2020-01-01T00:00:00Z) is in the past"),
        ({"duration": None, "ends_at": "tomorrow"}, "invalid ends_at 'tomorrow'"),
        ({"duration": None, "starts_at": "now+3h", "ends_at": "now+2h"}, "must be after starts_at"),
        ({"starts_at": 5}, "starts_at: give a time as text"),
        ({"created_by": None}, "created_by: required"),
        ({"created_by": ""}, "created_by: say who makes the silence"),
        ({"created_by": 7}, "created_by: give a string"),
        ({"comment": None}, "comment: required"),
        ({"comment": "   "}, "comment: say why"),
        ({"comment": "x" * 10_001}, "comment is too long"),
        ({"team": "ops"}, "unknown field 'team'"),
    ],
)
def test_refusals_name_the_field(client: TestClient, overrides: dict[str, Any], message: str) -> None:
    payload = body(**overrides)
    for key, value in overrides.items():
        if value is None:
            payload.pop(key, None)
    r = client.post(URL, json=payload)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]


def test_bodies_that_are_not_silences(client: TestClient) -> None:
    for content in (b"{", b"[1]", b'"x"', b""):
        r = client.post(URL, content=content)
        assert r.status_code == 400, (content, r.text)
        assert "JSON" in r.json()["error"]
    r = client.get(URL, params={"state": "muted"})
    assert r.status_code == 400 and "state: 'muted' is not one of active, pending, expired" in r.json()["error"]
    r = client.get(URL, headers={"X-Scope-OrgID": "not a tenant!"})
    assert r.status_code == 400 and "invalid tenant" in r.json()["error"]


def test_silences_belong_to_their_tenant(client: TestClient) -> None:
    mine = create(client, headers=ACME)
    assert mine["id"] in [s["id"] for s in client.get(URL, headers=ACME).json()["silences"]]
    assert mine["id"] not in [s["id"] for s in client.get(URL).json()["silences"]]
    for method in ("GET", "DELETE"):
        r = client.request(method, f"{URL}/{mine['id']}")
        assert r.status_code == 404 and r.json()["error"] == f"no silence with id {mine['id']!r}"
    r = client.put(f"{URL}/{mine['id']}", json={"comment": "mine now"})
    assert r.status_code == 404
    assert client.get(f"{URL}/{mine['id']}", headers=ACME).json() == mine


def test_delete_expires_and_the_silence_stays_listed(client: TestClient) -> None:
    made = create(client)
    r = client.delete(f"{URL}/{made['id']}")
    assert r.status_code == 200
    ended = r.json()
    assert ended["id"] == made["id"] and ended["state"] == "expired"
    assert when(made["starts_at"]) <= when(ended["ends_at"]) <= datetime.now(UTC)
    assert made["id"] in [s["id"] for s in client.get(URL, params={"state": "expired"}).json()["silences"]]
    assert made["id"] not in [s["id"] for s in client.get(URL, params={"state": "active"}).json()["silences"]]
    assert client.delete(f"{URL}/{made['id']}").json() == ended  # again: unchanged
    assert client.delete(f"{URL}/nope").status_code == 404


def test_put_follows_alertmanagers_editing_rules(client: TestClient) -> None:
    made = create(client)
    r = client.put(f"{URL}/{made['id']}", json={"comment": "takes longer", "duration": "5h"})
    assert r.status_code == 200, r.text
    extended = r.json()
    assert extended["id"] == made["id"] and extended["comment"] == "takes longer"
    assert extended["starts_at"] == made["starts_at"] and when(extended["ends_at"]) > when(made["ends_at"])
    r = client.put(f"{URL}/{made['id']}", json={"matchers": ['service="web"']})
    assert r.status_code == 200, r.text
    replaced = r.json()
    assert replaced["id"] != made["id"] and replaced["matchers"] == [{"name": "service", "type": "=", "value": "web"}]
    assert (replaced["comment"], replaced["ends_at"], replaced["state"]) == (
        "takes longer",
        extended["ends_at"],
        "active",
    )
    assert client.get(f"{URL}/{made['id']}").json()["state"] == "expired"
    r = client.put(f"{URL}/{made['id']}", json={"comment": "revive"})
    assert r.status_code == 409 and "an expired silence cannot be edited" in r.json()["error"]
    r = client.put(f"{URL}/{replaced['id']}", json={"matchers": ['a=~".*"']})
    assert r.status_code == 400 and "would mute every alert" in r.json()["error"]
    r = client.put(f"{URL}/{replaced['id']}", json={"created_by": "bo", "id": replaced["id"], "state": "active"})
    assert r.status_code == 200 and r.json()["created_by"] == "bo"  # a silence read back may be sent as it is
    assert client.put(f"{URL}/nope", json={"comment": "x"}).status_code == 404


def test_the_routers_silencer_sees_a_change_at_once(client: TestClient) -> None:
    silencer = getattr(client.app.state.runtime, "silencer", None)  # type: ignore[attr-defined]
    assert silencer is not None
    silencer.refresh = 3600.0  # only invalidate() can make it reload now
    labels = {"alertname": "error-burst", "service": "checkout", "tenant": "default"}
    assert not silencer.mutes(labels, datetime.now(UTC))
    made = create(client, matchers=['service="checkout"'])
    assert silencer.muted_by(labels, datetime.now(UTC)) == [made["id"]]
    assert not silencer.mutes({**labels, "tenant": "acme"}, datetime.now(UTC))
    assert client.delete(f"{URL}/{made['id']}").status_code == 200
    assert not silencer.mutes(labels, datetime.now(UTC))


def test_openapi_paths_match_the_routes_and_are_valid(client: TestClient) -> None:
    paths = silences_paths()
    served = {
        (route.path, method)
        for route in client.app.routes  # type: ignore[attr-defined]
        if getattr(route, "path", "").startswith(URL)
        for method in getattr(route, "methods", ()) or ()
        if method != "HEAD"
    }
    documented = {(path, method.upper()) for path, item in paths.items() for method in item if method != "parameters"}
    assert documented == served
    document = build_document()
    document["paths"] = {**document["paths"], **paths}
    validate(document)
