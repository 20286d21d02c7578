"""The demo's traffic: realistic lines, each incident in its slot of the schedule, the rules' config valid."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from logwarden.config.loader import load_config
from logwarden.demo.generator import ATTACKER_IP, KNOWN_EXCEPTIONS, NEW_EXCEPTIONS, DemoSchedule, TrafficGenerator
from logwarden.demo.rules import new_exception_rule, write_files
from logwarden.rules.loader import load_rules_dir
from logwarden.rules.service import check_api_rule

FIXED = datetime(2030, 5, 17, 12, 0, tzinfo=UTC)  # the generator never reads the wall clock: its clock is given


def at(line: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(line["ts"]).replace("Z", "+00:00"))


def generator(schedule: DemoSchedule | None = None) -> TrafficGenerator:
    return TrafficGenerator(schedule or DemoSchedule.short(), clock=lambda: FIXED)


def test_normal_traffic_has_access_logs_app_logs_with_stack_traces_and_logins() -> None:
    g = generator()
    quiet = g.schedule.period - 3  # after every incident of the cycle
    lines = [line for t in range(60) for line in g.batch(quiet + t * 0.01, 1.0)]
    services = Counter(line["service"] for line in lines)
    assert set(services) == {"web", "checkout", "payment", "inventory", "auth"}
    access = next(line for line in lines if line["service"] == "web")
    assert '" 200 ' in access["message"] or access["http"]["status"] != 200
    errors = [line for line in lines if line.get("exception")]
    assert errors and all(line["level"] == "ERROR" for line in errors)
    assert {line["exception"] for line in errors} <= set(KNOWN_EXCEPTIONS)
    assert any("Traceback (most recent call last):" in line["message"] for line in errors)
    assert any("\tat com.shop." in line["message"] for line in errors)
    assert all(at(line) <= FIXED for line in lines)
    assert len({line["log_id"] for line in lines}) == len(lines)


def test_each_incident_comes_in_its_slot() -> None:
    s = DemoSchedule.short()
    g = generator(s)
    quiet = g.batch(s.period - 1, 1.0)
    assert not any(line.get("client_ip") == ATTACKER_IP for line in quiet)

    burst = g.batch(s.burst_at + 1, s.burst_for - 1)
    checkout_errors = [line for line in burst if line["service"] == "checkout" and line["level"] == "ERROR"]
    assert len(checkout_errors) > s.burst_threshold

    brute = g.batch(s.brute_at + 1, s.brute_for - 1)
    assert sum(line.get("client_ip") == ATTACKER_IP for line in brute) > s.brute_threshold

    new = g.batch(s.new_exception_at + 0.5, 0.5)
    assert {line.get("exception") for line in new} & {NEW_EXCEPTIONS[0]}
    # The next cycle brings another name, never one of the known ones.
    again = g.batch(s.period + s.new_exception_at + 0.5, 0.5)
    assert NEW_EXCEPTIONS[1] in {line.get("exception") for line in again}

    silent = g.batch(s.silent_at + 1, s.silent_for - 2)
    assert silent and not any(line["service"] == "inventory" for line in silent)


def test_history_is_normal_traffic_before_now() -> None:
    batches = list(generator().history(minutes=2))
    lines = [line for batch in batches for line in batch]
    assert len(batches) == 12 and len(lines) > 300
    assert all(FIXED - timedelta(minutes=2) <= at(line) <= FIXED for line in lines)
    assert not any(line.get("client_ip") == ATTACKER_IP for line in lines)
    assert {line["exception"] for line in lines if "exception" in line} <= set(KNOWN_EXCEPTIONS)


def test_the_config_and_the_rules_load(tmp_path: Path) -> None:
    config_path = write_files(tmp_path, DemoSchedule(), 8123, "http://127.0.0.1:9/hook", "http://127.0.0.1:8123")
    config = load_config(str(config_path), overrides={})
    assert config.http.port == 8123 and config.alerting.route is not None
    rules = load_rules_dir(tmp_path / "rules")
    names = [entry.rule.name for file in rules.files for entry in file.entries]
    assert names == ["error-burst", "brute-force-login", "silent-service"]
    check_api_rule({"group": "demo", "rule": new_exception_rule(DemoSchedule())}, "default")
