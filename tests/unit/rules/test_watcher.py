"""RulesWatcher: reloads changed files; a broken file keeps its previous rules while others apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from logwarden.rules.loader import RulesWatcher
from logwarden.rules.types import ThresholdRule
from tests.unit.rules.samples import make_dir, threshold_rule


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def thresholds(watcher: RulesWatcher) -> dict[str, float]:
    return {r.name: r.threshold for r in watcher.ruleset.rules if isinstance(r, ThresholdRule)}


def test_first_check_loads_everything_then_nothing_changes(tmp_path: Path) -> None:
    watcher = RulesWatcher(make_dir(tmp_path, {"a.yaml": threshold_rule("a"), "b.yaml": threshold_rule("b")}))
    first = watcher.check()
    assert first.changed and first.added == ("a", "b") and first.errors == ()
    again = watcher.check()
    assert not again.changed and again.ruleset is first.ruleset


def test_a_broken_file_keeps_its_rules_while_other_files_apply(tmp_path: Path) -> None:
    clock = Clock()
    directory = make_dir(tmp_path, {"a.yaml": threshold_rule("a", threshold="5"), "b.yaml": threshold_rule("b")})
    watcher = RulesWatcher(directory, clock=clock)
    watcher.check()
    loaded_at = clock.now
    clock.now += timedelta(seconds=10)
    (directory / "a.yaml").write_text(threshold_rule("a", threshold="lots"))
    (directory / "b.yaml").write_text(threshold_rule("b", threshold="7"))
    outcome = watcher.check()
    assert thresholds(watcher) == {"a": 5.0, "b": 7.0}
    assert outcome.updated == ("b",) and len(outcome.errors) == 1 and "a.yaml:8" in outcome.errors[0]
    a, b = (watcher.status.files[str(directory / n)] for n in ("a.yaml", "b.yaml"))
    assert (a.ok, a.rules, a.loaded_at, a.failed_at) == (False, 1, loaded_at, clock.now)
    assert a.error is not None and "threshold" in a.error
    assert (b.ok, b.loaded_at) == (True, clock.now)
    assert watcher.status.rule_count == 2 and watcher.status.last_reload_at == clock.now and not watcher.status.ok
    # Fixed: its new version applies and the error clears.
    (directory / "a.yaml").write_text(threshold_rule("a", threshold="9"))
    outcome = watcher.check()
    assert thresholds(watcher) == {"a": 9.0, "b": 7.0} and outcome.updated == ("a",) and watcher.status.ok


def test_a_file_broken_from_the_start_contributes_nothing_until_fixed(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {"a.yaml": "groups: [", "b.yaml": threshold_rule("b")})
    watcher = RulesWatcher(directory)
    assert watcher.check().added == ("b",)
    (directory / "a.yaml").write_text(threshold_rule("a"))
    assert watcher.check().added == ("a",)


def test_a_new_duplicate_name_is_refused_and_retried_when_the_other_file_frees_it(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {"a.yaml": threshold_rule("x")})
    watcher = RulesWatcher(directory)
    watcher.check()
    (directory / "b.yaml").write_text(threshold_rule("x", threshold="1"))
    outcome = watcher.check()
    assert "already used in" in outcome.errors[0] and thresholds(watcher) == {"x": 5.0}
    (directory / "a.yaml").write_text(threshold_rule("y"))
    outcome = watcher.check()
    assert thresholds(watcher) == {"x": 1.0, "y": 5.0} and outcome.errors == () and watcher.status.ok


def test_deleting_a_file_removes_its_rules(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {"a.yaml": threshold_rule("a"), "b.yaml": threshold_rule("b")})
    watcher = RulesWatcher(directory)
    watcher.check()
    (directory / "b.yaml").unlink()
    outcome = watcher.check()
    assert outcome.removed == ("b",) and list(watcher.status.files) == [str(directory / "a.yaml")]


def test_moving_a_rule_within_its_file_is_not_an_update(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {"a.yaml": threshold_rule("a")})
    watcher = RulesWatcher(directory)
    watcher.check()
    (directory / "a.yaml").write_text("# a comment moves every line\n" + threshold_rule("a"))
    outcome = watcher.check()
    assert not outcome.changed and outcome.updated == () and watcher.ruleset.entries[0].line == 5


def test_a_vanished_directory_keeps_every_rule(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {"a.yaml": threshold_rule("a")})
    watcher = RulesWatcher(directory)
    watcher.check()
    (directory / "a.yaml").unlink()
    directory.rmdir()
    outcome = watcher.check()
    assert not outcome.changed and len(watcher.ruleset) == 1 and watcher.status.error is not None
    assert watcher.status.as_dict()["ok"] is False
