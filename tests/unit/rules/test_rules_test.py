"""`logwarden rules test`: the example test file passes; failures show what was expected and what came; errors in a
test file name the file, line, case and field; late lines, tenants, silence on the clock and checks per rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from logwarden.cli import main

DATA = Path(__file__).parent / "data"
RULES = (DATA / "errors.yaml").read_text()


def write(tmp_path: Path, test: str, rules: str = RULES) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "errors.yaml").write_text(rules)
    path = tmp_path / "errors_test.yaml"
    path.write_text(test)
    return path


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["rules", "test", *map(str, args)])


def test_the_example_test_file_passes() -> None:
    result = run(DATA / "errors_test.yaml")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{DATA / 'errors_test.yaml'}",
        "  PASS  a burst of errors fires at once and resolves when the minute has passed",
        "  PASS  warnings are pending for 30s before they fire",
        "2 test(s): 2 passed, 0 failed",
    ]


FAILING = """\
rule_files: [rules/errors.yaml]
tests:
  - name: right
    input:
      - {at: 0s, repeat: 4, service: api, level: error}
    eval_at:
      - at: 1s
        expected_alerts: [{rule: error-burst, labels: {service: api}, value: 4}]
  - name: wrong
    input:
      - {at: 0s, repeat: 4, service: api, level: error}
      - {at: 0s, repeat: 9, service: web, level: error}
    eval_at:
      - at: 1s
        expected_alerts:
          - rule: error-burst
            labels: {service: api}
            value: 5
            annotations: {summary: api logged 5 errors in 1m}
          - {rule: error-burst, labels: {service: db}}
      - at: 3m
        expected_transitions:
          - {rule: error-burst, status: resolved, at: 2m, labels: {service: api}}
"""


def test_a_failing_case_shows_expected_and_got_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, FAILING)
    result = run(path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        str(path),
        "  PASS  right",
        "  FAIL  wrong",
        "        at 1s (2026-01-01T00:00:01+00:00): expected_alerts",
        "          - expected: error-burst{service=\"api\"} firing value=5 summary='api logged 5 errors in 1m'",
        '          + got:      error-burst{service="api", team="core", tenant="default"} firing value=4 '
        "summary='api logged 4 errors in 1m'  (value, annotations.summary differ)",
        '          - missing:    error-burst{service="db"} firing',
        '          + unexpected: error-burst{service="web", team="core", tenant="default"} firing value=9 '
        "summary='web logged 9 errors in 1m'",
        "        at 3m (2026-01-01T00:03:00+00:00): expected_transitions",
        '          - expected: error-burst{service="api"} resolved at=2m',
        '          + got:      error-burst{service="api", team="core", tenant="default"} resolved value=0 at=1m '
        "summary='api logged 0 errors in 1m'  (at differ)",
        '          + unexpected: error-burst{service="web", team="core", tenant="default"} resolved value=0 at=1m '
        "summary='web logged 0 errors in 1m'",
        "2 test(s): 1 passed, 1 failed",
    ]
    doc = json.loads(run("--output", "json", path).stdout)
    assert doc["passed"] is False
    (file,) = doc["files"]
    assert [(c["name"], c["passed"]) for c in file["cases"]] == [("right", True), ("wrong", False)]
    first = file["cases"][1]["failures"][0]
    assert first["check"] == "expected_alerts" and first["different"][0]["fields"] == ["value", "annotations.summary"]
    assert first["missing"] == ['error-burst{service="db"} firing']


@pytest.mark.parametrize(
    ("test", "error"),
    [
        (
            "rule_files: [rules/errors.yaml]\ntests:\n  - name: c\n    eval_at:\n      - at: 1s\n"
            "        expected_alerts: [{rule: error-burst, status: firng}]\n",
            ":6: tests.0 (c).eval_at.0.expected_alerts.0.status: Input should be 'firing' or 'pending'",
        ),
        (
            "rule_files: [rules/errors.yaml]\ntests:\n  - name: c\n    eval_at:\n      - at: 1s\n"
            "        expected_alerts: [{rule: nope}]\n",
            ":6: tests.0 (c).eval_at.0.expected_alerts.0.rule: no rule 'nope' in the rule files "
            "(rules: error-burst, slow-burn)",
        ),
        (
            "rule_files: [rules/errors.yaml]\ntests:\n  - name: c\n    input:\n      - {at: soon}\n"
            "    eval_at: [{at: 1s}]\n",
            ":5: tests.0 (c).input.0.at: Value error, invalid time 'soon'",
        ),
        (
            "rule_files: [rules/errors.yaml]\ntests:\n  - name: c\n    input:\n"
            "      - {at: 0s, timestamp: '2026-01-01T00:00:00Z'}\n    eval_at: [{at: 1s}]\n",
            ":5: tests.0 (c).input.0: 'timestamp': the line's time is `at`",
        ),
        (
            "rule_files: [rules/missing.yaml]\ntests:\n  - name: c\n    eval_at: [{at: 1s}]\n",
            ":1: rule_files.0: ",
        ),
        ("rule_files: [rules/errors.yaml]\ntests: []\n", ":2: tests: List should have at least 1 item"),
    ],
)
def test_errors_in_a_test_file_name_file_line_case_and_field(tmp_path: Path, test: str, error: str) -> None:
    path = write(tmp_path, test)
    result = run(path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == str(path)
    assert lines[1].startswith(f"  error: {path}{error}"), lines[1]


def test_late_lines_tenants_and_rule_scoped_checks(tmp_path: Path) -> None:
    test = """\
rule_files: [rules/errors.yaml]
tests:
  - name: a late line inside the window counts; one older than the window never does
    input:
      - {at: 1m, service: api, level: error}
      - {at: 1m30s, service: api, level: error}                  # the head: the window is (30s, 1m30s]
      - {at: 40s, repeat: 2, service: api, level: error, delay: 51s}   # arrive at 1m31s
      - {at: 20s, repeat: 5, service: api, level: error, delay: 72s}   # arrive at 1m32s
    eval_at:
      - at: 1m30s
        expected_alerts: []
      - at: 1m31s
        rule: error-burst
        expected_alerts: [{rule: error-burst, labels: {service: api}, value: 4}]
      - at: 1m33s
        rule: error-burst
        expected_alerts: [{rule: error-burst, labels: {service: api}, value: 4}]
  - name: each tenant alerts on its own
    tenant: acme
    input:
      - {at: 0s, repeat: 4, service: api, level: error}
      - {at: 0s, repeat: 4, service: api, level: error, tenant: other}
      - {at: 0s, repeat: 2, service: api, level: error, tenant: third}
    eval_at:
      - at: 1s
        expected_alerts:
          - {rule: error-burst, labels: {tenant: acme, service: api}}
          - {rule: error-burst, labels: {tenant: other, service: api}}
"""
    result = run(write(tmp_path, test))
    assert result.exit_code == 0, result.output


def test_silence_moves_the_clock_and_rule_files_are_found_beside_the_test(tmp_path: Path) -> None:
    absence = """\
groups:
  - name: g
    rules:
      - name: api-quiet
        type: absence
        query: '*'
        group_by: [service]
        window: 1m
"""
    test = """\
rule_files: [rules/errors.yaml]
tests:
  - name: a service that stops reporting fires once its window is empty, by the clock alone
    interval: 5s
    input:
      - {at: 0s, repeat: 6, every: 10s, service: api, message: ok}
    eval_at:
      - at: 1m
        expected_alerts: []
      - at: 3m
        expected_alerts: [{rule: api-quiet, labels: {service: api}, value: 0}]
        expected_transitions: [{rule: api-quiet, status: firing}]
"""
    path = write(tmp_path, test, rules=absence)
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path, moved, ignore=shutil.ignore_patterns("elsewhere"))
    result = run(moved / path.name)
    assert result.exit_code == 0, result.output
    # The same test fails when the clock is not allowed to reach the silence.
    (moved / path.name).write_text(test.replace("at: 3m", "at: 1m30s"))
    assert run(moved / path.name).exit_code == 1
