"""Prometheus metrics of the rules engine, read from its state at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from logwarden.rules.engine import RulesEngine


class RulesCollector(Collector):
    """Per rule: matched and late lines, groups held in its window, alerts pending and firing."""

    def __init__(self, engine: RulesEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        matched = CounterMetricFamily("logwarden_rule_matched_lines", "Lines a rule's query matched.", labels=["rule"])
        late = CounterMetricFamily(
            "logwarden_rule_late_lines",
            "Lines too late for a rule's window (more than max_delay behind its start); still stored.",
            labels=["rule"],
        )
        groups = GaugeMetricFamily("logwarden_rule_groups", "Groups a rule holds in its window.", labels=["rule"])
        alerts = GaugeMetricFamily("logwarden_alerts", "Alerts by rule and state.", labels=["rule", "state"])
        dropped = CounterMetricFamily(
            "logwarden_rule_dropped",
            "What a rule left out: field values that are not numbers (aggregate), keys evicted at max_keys and "
            "attempts dropped at max_runs (sequence).",
            labels=["rule", "reason"],
        )
        for s in self._engine.status():
            matched.add_metric([s["rule"]], s["matched"])
            late.add_metric([s["rule"]], s["late"])
            groups.add_metric([s["rule"]], s["groups"])
            alerts.add_metric([s["rule"], "pending"], s["pending"])
            alerts.add_metric([s["rule"], "firing"], s["firing"])
            for reason, n in s.get("dropped", {}).items():
                dropped.add_metric([s["rule"], reason], n)
        transitions = CounterMetricFamily(
            "logwarden_alert_transitions", "Alert transitions committed (firing and resolved) since start."
        )
        transitions.add_metric([], self._engine.transitions)
        yield from (matched, late, groups, alerts, dropped, transitions)
