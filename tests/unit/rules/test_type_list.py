"""`list` rules through the real engine on a fake clock: a listed value (`in`) or an unlisted one (`not_in`)
fires, with the value as a label or per group; case-insensitive matching, entries from a CSV file (text as
written, read at rule load, errors at check time), `threshold`, late lines and a restart mid-window."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from logwarden.rules.loader import RulesError, load_rules_dir
from logwarden.rules.types.list import ListRule
from tests.unit.rules.harness import T0, Clock, stored, transitions
from tests.unit.rules.test_type_new_value import engine_for, line, restarted, run


def Spec(**overrides: Any) -> ListRule:  # noqa: N802 - reads like the rule it builds
    context = overrides.pop("_context", None)
    settings: dict[str, Any] = {
        "name": "blocked-user",
        "type": "list",
        "query": "*",
        "group_by": ["service"],
        "field": "user",
        "values": ["root", "admin"],
        "window": "1m",
        "max_delay": "5s",
        "samples": 3,
    }
    settings.update(overrides)
    return ListRule.model_validate(settings, context=context)


def req(seconds: float, user: str | None, service: str = "ssh", **more: Any) -> dict[str, Any]:
    return line(seconds, service=service, **({"user": user} if user is not None else {}), **more)


def alerted(e: Any, *names: str) -> list[tuple[str, ...]]:
    return sorted(tuple(a.labels.get(n, "-") for n in names) for a in e.alerts())


def rule_file(tmp_path: Path, settings: str) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    (directory / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - name: l\n        type: list\n        query: '*'\n"
        "        field: user\n        window: 1m\n" + settings
    )
    return directory


def test_listed_values_fire_with_the_value_as_a_label_and_resolve(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec())
    run(e, clock, [(1, [req(1, "ann"), req(2, "root"), req(3, None), req(4, "admin", "web"), req(5, "root")])])
    assert alerted(e, "service", "user") == [("ssh", "root"), ("web", "admin")]
    (root,) = [a for a in e.alerts() if a.labels["user"] == "root"]
    assert root.value == 2 and root.labels == {"tenant": "default", "service": "ssh", "user": "root"}
    assert [ev["ts"] for ev in root.evidence] == [(T0 + timedelta(seconds=s)).isoformat() for s in (2, 5)]
    e.handle(stored(2, [req(6, "Root")], tenant="other"))  # case-sensitive by default: Root is not listed
    assert len(e.alerts()) == 2
    clock.now = T0 + timedelta(minutes=5)
    e.tick()
    assert e.alerts() == [] and [s for s, _, _ in transitions(e)] == ["firing", "firing", "resolved", "resolved"]
    e.close()


def test_not_in_fires_for_values_off_the_list_and_case_can_be_ignored(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(mode="not_in", values=["ann", "Bob"], case_sensitive=False))
    run(e, clock, [(1, [req(1, "ANN"), req(2, "bob"), req(3, "eve"), req(4, None), req(5, "Eve")])])
    assert alerted(e, "user") == [("Eve",), ("eve",)]  # the label keeps the value as the line has it
    e.close()


def test_without_label_value_a_group_counts_every_listed_line_against_the_threshold(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(label_value=False, threshold=2))
    run(e, clock, [(1, [req(1, "root"), req(2, "admin"), req(3, "ann", "web")])])
    assert e.alerts() == []
    run(e, clock, [(2, [req(4, "root", "ssh")])])
    ((labels, value),) = [(a.labels, a.value) for a in e.alerts()]
    assert labels == {"tenant": "default", "service": "ssh"} and value == 3
    e.close()


def test_numbers_in_values_compare_as_the_log_writes_them(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec(field="status", values=[404, 500, True], group_by=[]))
    run(e, clock, [(1, [line(1, status=404), line(2, status=200), line(3, status="500"), line(4, status=True)])])
    assert alerted(e, "status") == [("404",), ("500",), ("true",)]
    e.close()


def test_entries_come_from_a_csv_column_as_written(tmp_path: Path) -> None:
    (tmp_path / "blocked.csv").write_text("ip,user,note\n10.0.0.1,007,old\n10.0.0.2, mallory ,x\n,,\n")
    clock = Clock()
    spec = Spec(values=["root"], lookup={"file": tmp_path / "blocked.csv", "column": "user"})
    assert spec.entries() == ("root", "007", "mallory")
    e = engine_for(tmp_path / "state", clock, spec)
    run(e, clock, [(1, [req(1, "007"), req(2, "7"), req(3, "mallory"), req(4, "root")])])
    assert alerted(e, "user") == [("007",), ("mallory",), ("root",)]
    # The first column by default; a relative path is relative to the rule file's directory when the loader
    # says where that is (validation context `base_dir`).
    first = Spec(field="ip", values=[], lookup={"file": "blocked.csv"}, _context={"base_dir": tmp_path})
    assert first.entries() == ("10.0.0.1", "10.0.0.2")
    e.close()


def test_a_reloaded_rule_file_reads_the_csv_again_and_keeps_the_window(tmp_path: Path) -> None:
    csv = tmp_path / "blocked.csv"
    csv.write_text("user\neve\n")
    clock = Clock()
    spec = Spec(values=[], lookup={"file": csv})
    e = engine_for(tmp_path / "state", clock, spec)
    run(e, clock, [(1, [req(1, "eve"), req(2, "ann")])])
    assert alerted(e, "user") == [("eve",)]
    csv.write_text("user\nann\n")
    run(e, clock, [(2, [req(3, "ann")])])
    assert alerted(e, "user") == [("eve",)]  # read at load: the running rule keeps its list
    e.set_rules([Spec(values=[], lookup={"file": csv})])  # the rule file is reloaded: same settings, new list
    run(e, clock, [(3, [req(4, "ann"), req(5, "eve")])])
    assert alerted(e, "user") == [("ann",), ("eve",)]  # eve's alert (and window) kept; ann's is new
    assert [s for s, _, _ in transitions(e)] == ["firing", "firing"]
    e.close()


def test_rules_check_reports_a_list_without_entries_or_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="give the list's `values`, a `lookup` file, or both"):
        Spec(values=[])
    (tmp_path / "u.csv").write_text("user\nroot\n")
    for settings, problem in [
        (f"        lookup: {{file: {tmp_path / 'missing.csv'}}}\n", "cannot read list file .*missing.csv"),
        (f"        lookup: {{file: {tmp_path / 'u.csv'}, column: ip}}\n", "no column 'ip' \\(the header has 'user'\\)"),
        ("        values: [root]\n        mode: maybe\n", "mode: Input should be 'in' or 'not_in'"),
    ]:
        with pytest.raises(RulesError, match=problem) as caught:
            load_rules_dir(rule_file(tmp_path, settings))
        assert caught.value.problems[0].startswith(str(tmp_path / "rules" / "r.yaml") + ":")
    (rule,) = load_rules_dir(rule_file(tmp_path, f"        lookup: {{file: {tmp_path / 'u.csv'}}}\n")).rules
    assert isinstance(rule, ListRule) and rule.entries() == ("root",)


def test_late_listed_lines_are_counted_late(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path, clock, Spec())
    run(e, clock, [(1, [req(600, "ann")])])
    e.handle(stored(2, [req(10, "root"), req(11, "ann")]))
    assert e.alerts() == [] and e.status()[0]["late"] == 1
    e.close()


BATCHES = [
    (1, [req(1, "root"), req(2, "ann")]),
    (2, [req(20, "admin", "web")]),
    (3, [req(50, "root")]),
    (4, [req(70, "ann")]),  # root's first line has left the window; its second holds it
    (5, [req(85, "ann")]),  # web/admin (20 s) has left: resolves
    (6, [req(200, "ann")]),  # ssh/root resolves
]


def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(tmp_path: Path) -> None:
    clock = Clock()
    whole = engine_for(tmp_path / "whole", clock, Spec())
    run(whole, clock, BATCHES)
    expected = transitions(whole)
    assert [(s, labels["user"]) for s, _, labels in expected] == [
        ("firing", "root"),
        ("firing", "admin"),
        ("resolved", "admin"),
        ("resolved", "root"),
    ]
    second = restarted(tmp_path / "split", clock, Spec(), BATCHES, 3)
    assert transitions(second) == expected
    whole.close()
    second.close()
