"""`route` and field templates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv
from logwarden.pipeline.route import RouteConfig
from logwarden.pipeline.template import parse_template


def test_template_joins_literals_and_fields_per_row() -> None:
    batch = fields.wide_from_records(
        [{"message": "a", "org_id": "acme", "region": "eu"}, {"message": "b", "org_id": 42, "region": "us"}]
    )
    assert parse_template("org-{org_id}.{region}").render(batch).to_pylist() == ["org-acme.eu", "org-42.us"]
    assert parse_template("{{literal}}").render(batch).to_pylist() == ["{literal}", "{literal}"]
    assert parse_template("{message}").render(batch).to_pylist() == ["a", "b"]


def test_template_with_a_missing_field_renders_null() -> None:
    batch = fields.wide_from_records([{"message": "a", "x": "1"}, {"message": "b"}])
    assert parse_template("v{x}").render(batch).to_pylist() == ["v1", None]
    assert parse_template("v{nope}").render(batch).to_pylist() == [None, None]


@pytest.mark.parametrize(("text", "error"), [("a{b", "unmatched '{' at position 2"), ("{a b}", "invalid field name")])
def test_template_errors_name_the_position(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_template(text)


def route(**settings: str) -> object:
    return RouteConfig.model_validate({"type": "route", **settings}).build(BuildEnv())


def test_route_sets_tenant_service_stream_and_retention_class() -> None:
    batch = fields.wide_from_records(
        [
            {"message": "a", "org_id": "acme", "event_type": "audit", "app": "x"},
            {"message": "b", "event_type": "click"},
        ]
    )
    processor = route(
        tenant="org-{org_id}", service="svc-{event_type}", stream="{event_type}", retention="{event_type}"
    )
    out = processor.process(batch)  # type: ignore[attr-defined]
    assert out.errors is None
    assert out.batch.column("tenant").to_pylist() == ["org-acme", "default"]
    assert out.batch.column("service").to_pylist() == ["svc-audit", "svc-click"]
    assert out.batch.column("stream").to_pylist() == ["audit", "click"]
    assert out.batch.column("retention_class").to_pylist() == ["audit", "click"]


def test_route_refuses_invalid_tenant_names_per_line() -> None:
    batch = fields.wide_from_records([{"message": "a", "org_id": "ok"}, {"message": "b", "org_id": "bad/../name"}])
    out = route(tenant="{org_id}").process(batch)  # type: ignore[attr-defined]
    assert out.batch.column("tenant").to_pylist() == ["ok", "default"]
    assert out.errors.to_pylist() == [None, "invalid tenant name bad/../name"]


def test_route_template_errors_fail_validation() -> None:
    with pytest.raises(ValidationError, match="unmatched"):
        RouteConfig.model_validate({"type": "route", "tenant": "{org_id"})
