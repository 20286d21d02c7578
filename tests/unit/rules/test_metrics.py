"""The rules engine's Prometheus metrics: per rule matched lines, groups, alerts by state, and what a type had to
leave out (here: values of an aggregate's field that are not numbers)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from logwarden.rules.engine import RulesEngine
from logwarden.rules.metrics import RulesCollector
from logwarden.rules.types.aggregate import AggregateRule
from tests.unit.rules.harness import T0, Clock, stored


def test_metrics_count_matched_lines_alerts_and_values_that_are_not_numbers(tmp_path: Path) -> None:
    rule = AggregateRule.model_validate(
        {"name": "slow", "type": "aggregate", "query": "service:api", "group_by": ["service"], "field": "latency_ms",
         "fn": "max", "threshold": 100, "window": "1m"}
    )  # fmt: skip
    clock = Clock()
    clock.now = T0 + timedelta(seconds=30)
    engine = RulesEngine(tmp_path / "rules", (rule,), clock=clock, idle=timedelta(0), tick=None)
    ts = (T0 + timedelta(seconds=1)).isoformat()
    lines = [{"ts": ts, "service": "api", "latency_ms": v, "msg": "x"} for v in (50, 250, "fast", "n/a")]
    engine.handle(stored(1, lines))
    registry = CollectorRegistry()
    registry.register(RulesCollector(engine))
    text = generate_latest(registry).decode()
    assert 'logwarden_rule_matched_lines_total{rule="slow"} 4.0' in text
    assert 'logwarden_alerts{rule="slow",state="firing"} 1.0' in text
    assert 'logwarden_rule_dropped_total{reason="not_a_number",rule="slow"} 2.0' in text
    engine.close()
