"""`logwarden rules test FILE...`: unit tests for rules, written next to them (like `promtool test rules`).

A test file names rule files (relative to itself) and test cases. Each case feeds log lines to the real rules
engine on a fake clock, in a temporary directory, and checks at chosen times which alerts are pending or
firing and which transitions happened:

```yaml
rule_files: [errors.yaml]
tests:
  - name: a burst of errors fires, then resolves
    input:
      - {at: 0s, repeat: 5, every: 1s, service: api, level: error, message: boom}
    eval_at:
      - at: 10s
        expected_alerts:
          - {rule: error-burst, labels: {service: api}, status: firing, value: 5}
      - at: 2m
        expected_alerts: []
        expected_transitions:
          - {rule: error-burst, status: firing, at: 3s}
          - {rule: error-burst, status: resolved, at: 1m4s}
```

How a case runs: time `0s` is the case's `start`. The clock moves in steps of `interval` (and stops at every
line's arrival and every check). Lines that arrive at one instant for one tenant form one batch, built as ingest
builds it (the same decoding and normalization); a line arrives at its own time, or `delay` later (late data).
When no line arrives the engine evaluates by the clock, as the server's idle ticker does. At a check, lines
arriving at that instant have been handled. `expected_alerts` (when given, even `[]`) is the exact list of
pending and firing alerts (of `rule`, when the check names one); `expected_transitions` the exact list of
firing/resolved transitions since the previous check. Labels are matched as a subset (`tenant` and the rule's
labels need not be written); `value`, `annotations` and `at` are compared when given.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from logwarden.bus.base import BusBatch
from logwarden.ingest.ndjson import decode_json_body
from logwarden.model.normalize import BatchContext, normalize
from logwarden.rules.engine import RulesEngine
from logwarden.rules.loader import RulesError
from logwarden.rules.model import Rule
from logwarden.rules.service import annotate
from logwarden.rules.state import Alert, Transition
from logwarden.rules.templates import format_duration
from logwarden.rules.testfile import (
    TEST_EPOCH,
    ExpectedAlert,
    ExpectedTransition,
    RuleTestCase,
    case_time,
    load_test_file,
)
from logwarden.store.arrival import with_seq

# --- results -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Failure:
    """One check that did not hold: what was expected and not found, found and not expected, or found but
    different."""

    at: str
    check: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    different: list[tuple[str, str, list[str]]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "check": self.check,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "different": [{"expected": e, "got": g, "fields": f} for e, g, f in self.different],
        }


@dataclass(slots=True)
class CaseResult:
    name: str
    failures: list[Failure] = field(default_factory=list)
    error: str | None = None
    """Why the case could not run to its end (an input line that cannot be ingested)."""

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


@dataclass(slots=True)
class FileResult:
    path: str
    errors: list[str] = field(default_factory=list)
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.errors and all(c.passed for c in self.cases)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "passed": self.passed,
            "errors": self.errors,
            "cases": [
                {"name": c.name, "passed": c.passed, "error": c.error, "failures": [f.to_json() for f in c.failures]}
                for c in self.cases
            ],
        }


# --- running ---------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True, slots=True)
class _Seen:
    """An alert or transition as a check compares it."""

    rule: str
    labels: dict[str, str]
    status: str
    value: float
    annotations: dict[str, str]
    at: datetime | None = None


def run_test_file(path: Path) -> FileResult:
    """Load and run every case of one test file."""
    result = FileResult(str(path))
    try:
        parsed, rules = load_test_file(path)
    except RulesError as exc:
        result.errors = list(exc.problems)
        return result
    for case in parsed.tests:
        result.cases.append(run_case(case, rules))
    return result


def run_case(case: RuleTestCase, rules: Sequence[Rule]) -> CaseResult:
    """Feed a case's lines to a fresh engine on a fake clock and compare at each check."""
    start = case.start
    arrivals: dict[datetime, dict[str, list[dict[str, Any]]]] = {}
    for item in case.input:
        first = case_time(item.at, start)
        for i in range(item.repeat):
            event = first + item.every * i
            record = {**item.record(), "ts": event.isoformat()}
            per_tenant = arrivals.setdefault(event + item.delay, {})
            per_tenant.setdefault(item.tenant or case.tenant, []).append(record)
    checks = sorted(((case_time(c.at, start), i, c) for i, c in enumerate(case.eval_at)), key=lambda x: (x[0], x[1]))
    end = checks[-1][0]
    first_time = min([start, *arrivals])
    instants = set(arrivals) | {when for when, _, _ in checks}
    t = first_time
    while t <= end:
        instants.add(t)
        t += case.interval
    specs = {rule.name: rule for rule in rules}
    transitions: list[_Seen] = []

    def seen(transition: Transition, meta: dict[str, str]) -> None:
        spec = specs[meta["rule"]]
        transitions.append(_view(spec, transition.alert, str(transition.status), transition.at))

    result = CaseResult(case.name)
    clock = FakeClock(first_time)
    seq = 0
    with tempfile.TemporaryDirectory(prefix="logwarden-rules-test-") as tmp:
        engine = _engine(Path(tmp), rules, clock, seen)
        try:
            pending = iter(checks)
            check = next(pending, None)
            for instant in sorted(t for t in instants if t <= end):
                clock.now = instant
                batches = arrivals.get(instant)
                if batches:
                    for tenant in sorted(batches):
                        seq += 1
                        try:
                            batch = _batch(seq, batches[tenant], tenant, instant)
                        except ValueError as exc:
                            result.error = f"at {_offset(instant, start)}: {exc}"
                            return result
                        engine.handle(batch)
                else:
                    engine.tick()
                while check is not None and check[0] == instant:
                    when, _, spec = check
                    label = _label(spec.at, when)
                    if spec.expected_alerts is not None:
                        got = [_view(specs[a.rule], a, str(a.status)) for a in engine.alerts()]
                        failure = _compare_alerts(label, spec.rule, spec.expected_alerts, got)
                        if failure is not None:
                            result.failures.append(failure)
                    if spec.expected_transitions is not None:
                        failure = _compare_transitions(label, spec.rule, spec.expected_transitions, transitions, start)
                        if failure is not None:
                            result.failures.append(failure)
                    transitions.clear()
                    check = next(pending, None)
        finally:
            engine.close()
    return result


def _engine(
    directory: Path, rules: Sequence[Rule], clock: FakeClock, seen: Callable[[Transition, dict[str, str]], None]
) -> RulesEngine:
    return RulesEngine(
        directory / "rules", rules, clock=clock, idle=timedelta(0), tick=None, on_transition=seen, annotate=annotate
    )


def _batch(seq: int, records: list[dict[str, Any]], tenant: str, received: datetime) -> BusBatch:
    body = b"\n".join(orjson.dumps(r, default=str) for r in records)
    decoded = decode_json_body(body)
    if decoded.rejected or decoded.records is None:
        reason = decoded.rejected[0][1] if decoded.rejected else "no records"
        raise ValueError(f"an input line cannot be ingested: {reason}")
    table = normalize(decoded.records, BatchContext(tenant, "rules-test", received))
    return BusBatch(seq, with_seq(seq, table))


def _view(spec: Rule, alert: Alert, status: str, at: datetime | None = None) -> _Seen:
    return _Seen(
        rule=alert.rule,
        labels={**spec.labels, **alert.labels},
        status=status,
        value=float(alert.value),
        annotations=annotate(spec, alert),
        at=at,
    )


def _label(written: timedelta | datetime, when: datetime) -> str:
    if isinstance(written, timedelta):
        return f"{format_duration(written)} ({when.isoformat()})"
    return when.isoformat()


def _same_value(expected: float | None, got: float) -> bool:
    return expected is None or abs(expected - got) <= 1e-9 * max(1.0, abs(expected))


def _show_labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _show(item: _Seen | ExpectedAlert | ExpectedTransition, start: datetime) -> str:
    parts = [f"{item.rule}{_show_labels(item.labels)} {item.status}"]
    value = item.value
    if value is not None:
        parts.append(f"value={value:g}")
    at = getattr(item, "at", None)
    if at is not None:
        parts.append(f"at={_offset(case_time(at, start), start)}")
    annotations = getattr(item, "annotations", None)
    for key, text in sorted((annotations or {}).items()):
        parts.append(f"{key}={text!r}")
    return " ".join(parts)


def _offset(when: datetime, start: datetime) -> str:
    return format_duration(when - start) if when >= start else when.isoformat()


def _differences(expected: ExpectedAlert | ExpectedTransition, got: _Seen, start: datetime) -> list[str]:
    out = []
    if expected.status != got.status:
        out.append("status")
    if not _same_value(expected.value, got.value):
        out.append("value")
    if isinstance(expected, ExpectedAlert):
        out.extend(f"annotations.{k}" for k, v in sorted(expected.annotations.items()) if got.annotations.get(k) != v)
    elif expected.at is not None and case_time(expected.at, start) != got.at:
        out.append("at")
    return out


def _matching(
    expected: Sequence[ExpectedAlert | ExpectedTransition], got: list[_Seen], start: datetime
) -> tuple[
    list[ExpectedAlert | ExpectedTransition], list[tuple[ExpectedAlert | ExpectedTransition, _Seen]], list[_Seen]
]:
    """(missing, different, unexpected): exact matches first (most labels first), then near ones (same rule
    and labels, other status/value/annotations/time)."""
    left = list(got)
    unmatched = []
    for e in sorted(expected, key=lambda e: -len(e.labels)):
        found = next((g for g in left if _labels_match(e, g) and not _differences(e, g, start)), None)
        if found is None:
            unmatched.append(e)
        else:
            left.remove(found)
    missing, different = [], []
    for e in unmatched:
        near = next((g for g in left if _labels_match(e, g)), None)
        if near is None:
            missing.append(e)
        else:
            left.remove(near)
            different.append((e, near))
    return missing, different, left


def _labels_match(expected: ExpectedAlert | ExpectedTransition, got: _Seen) -> bool:
    return expected.rule == got.rule and all(got.labels.get(k) == v for k, v in expected.labels.items())


def _report(
    label: str,
    check: str,
    expected: Sequence[ExpectedAlert | ExpectedTransition],
    got: list[_Seen],
    start: datetime,
) -> Failure | None:
    missing, different, unexpected = _matching(expected, got, start)
    if not (missing or different or unexpected):
        return None
    return Failure(
        label,
        check,
        missing=[_show(e, start) for e in missing],
        unexpected=[_show(g, start) for g in unexpected],
        different=[(_show(e, start), _show(g, start), _differences(e, g, start)) for e, g in different],
    )


def _compare_alerts(label: str, rule: str | None, expected: list[ExpectedAlert], got: list[_Seen]) -> Failure | None:
    got = sorted((g for g in got if rule is None or g.rule == rule), key=lambda g: (g.rule, sorted(g.labels.items())))
    return _report(label, "expected_alerts", expected, got, TEST_EPOCH)  # alerts carry no time to show


def _compare_transitions(
    label: str, rule: str | None, expected: list[ExpectedTransition], got: list[_Seen], start: datetime
) -> Failure | None:
    mine = [g for g in got if rule is None or g.rule == rule]
    return _report(label, "expected_transitions", expected, mine, start)


# --- output ----------------------------------------------------------------------------------------


def format_results(results: Sequence[FileResult]) -> str:
    """The people's report: each case PASS or FAIL, with what differed at which check."""
    lines: list[str] = []
    for file in results:
        lines.append(file.path)
        lines.extend(f"  error: {problem}" for problem in file.errors)
        for case in file.cases:
            lines.append(f"  {'PASS' if case.passed else 'FAIL'}  {case.name}")
            if case.error is not None:
                lines.append(f"        error: {case.error}")
            for failure in case.failures:
                lines.append(f"        at {failure.at}: {failure.check}")
                for expected, got, fields in failure.different:
                    lines.append(f"          - expected: {expected}")
                    lines.append(f"          + got:      {got}  ({', '.join(fields)} differ)")
                lines.extend(f"          - missing:    {m}" for m in failure.missing)
                lines.extend(f"          + unexpected: {u}" for u in failure.unexpected)
    cases = [c for f in results for c in f.cases]
    passed = sum(c.passed for c in cases)
    errors = sum(len(f.errors) for f in results)
    summary = f"{len(cases)} test(s): {passed} passed, {len(cases) - passed} failed"
    if errors:
        summary += f"; {errors} error(s) in test files"
    lines.append(summary)
    return "\n".join(lines)
