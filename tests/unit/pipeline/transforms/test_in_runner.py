"""The issue's nginx example shape through the real runner: conditions, order, errors and drop counts."""

from __future__ import annotations

from pathlib import Path

from logwarden.pipeline.conditions import field_matcher
from logwarden.pipeline.fields import wide_from_records
from logwarden.pipeline.runner import ERROR_FIELD, Pipeline, PipelineSet, Step
from tests.unit.pipeline.transforms.helpers import build, column

AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def test_transforms_enrichment_and_redaction_in_one_pipeline(tmp_path: Path) -> None:
    settings = [
        {"type": "convert", "fields": {"response": "int", "bytes": "int"}},
        {"type": "user_agent", "field": "agent"},
        {"type": "redact", "detectors": ["email", "credit_card"]},
        {"type": "labels", "labels": {"env": "prod"}},
        {"type": "dedup", "fields": ["message"]},
        {"type": "drop", "if": "status:healthz"},
    ]
    steps = []
    for i, s in enumerate(settings):
        condition = field_matcher({"status": "healthz"}) if s["type"] == "drop" else None
        steps.append(Step(f"{s['type']}#{i + 1}", build(s, tmp_path), condition))
    pipeline = PipelineSet((Pipeline("nginx", tuple(steps), field_matcher({"service": "nginx"})),))
    records = [
        {"message": "GET / from bob@example.com", "service": "nginx", "response": "200", "bytes": "12", "agent": AGENT},
        {"message": "GET /x", "service": "nginx", "response": "oops", "bytes": "7", "agent": AGENT},
        {"message": "ping", "service": "nginx", "status": "healthz"},
        {"message": "GET /x", "service": "nginx", "response": "404", "bytes": "1"},
    ]
    out = pipeline.run(wide_from_records(records))
    batch = out.batch
    assert column(batch, "message") == [
        "GET / from [REDACTED:email]",
        "GET /x",
    ]
    assert column(batch, "response") == [200, None]
    assert column(batch, "user_agent.browser") == ["Firefox", "Firefox"]
    assert column(batch, "env") == ["prod", "prod"]
    assert column(batch, "dedup_count") == [None, 2]
    assert column(batch, ERROR_FIELD) == [None, "convert#1: cannot convert 'oops' to int"]
    assert out.dropped == 2  # the health check (drop) and the repeated "GET /x" (dedup)
