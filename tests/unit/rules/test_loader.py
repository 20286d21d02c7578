"""Loading a rules directory: errors name file, line, group, rule and field; names are unique across files."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.config.loader import ConfigError
from logwarden.rules.loader import RulesError, load_rules_dir
from logwarden.rules.types import KNOWN_TYPES, ThresholdRule
from tests.unit.rules.samples import EXAMPLE, make_dir, threshold_rule

BROKEN = """\
groups:
  - name: other
    rules:
      - name: fine
        type: threshold
        query: '*'
        window: 5m
        threshold: 3
      - name: error-burst
        type: threshold
        query: 'level:error'
        window: 1m
        threshold: lots
"""


def problems(directory: Path) -> tuple[str, ...]:
    with pytest.raises(RulesError) as caught:
        load_rules_dir(directory)
    return caught.value.problems


def test_the_issue_example_loads_with_its_place(tmp_path: Path) -> None:
    ruleset = load_rules_dir(make_dir(tmp_path, {"a.yaml": EXAMPLE, "b.yml": threshold_rule("other")}))
    assert [(e.rule.name, Path(e.file).name, e.line, e.group) for e in ruleset.entries] == [
        ("error-burst", "a.yaml", 4, "seed"),
        ("other", "b.yml", 4, "g-other"),
    ]
    assert isinstance(ruleset.rules[0], ThresholdRule) and len(ruleset) == 2


def test_files_are_read_in_name_order_and_others_ignored(tmp_path: Path) -> None:
    directory = make_dir(
        tmp_path,
        {"b.yaml": threshold_rule("b"), "a.yml": threshold_rule("a"), ".hidden.yaml": "x: [", "notes.txt": "x: ["},
    )
    assert [r.name for r in load_rules_dir(directory).rules] == ["a", "b"]


def test_a_field_error_names_file_line_group_rule_and_field(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {"a.yaml": BROKEN})
    assert problems(directory) == (
        f"{directory}/a.yaml:13: groups.0 (other).rules.1 (error-burst).threshold: "
        "Input should be a valid number, unable to parse string as a number",
    )


def test_a_missing_field_points_at_its_rule(tmp_path: Path) -> None:
    text = "groups:\n  - name: g\n    rules:\n      - name: r\n        type: threshold\n        query: x\n"
    directory = make_dir(tmp_path, {"a.yaml": text})
    assert set(problems(directory)) == {
        f"{directory}/a.yaml:4: groups.0 (g).rules.0 (r).window: Field required",
        f"{directory}/a.yaml:4: groups.0 (g).rules.0 (r).threshold: Field required",
    }


def test_query_syntax_error_names_rule_and_column(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {"a.yaml": threshold_rule("q", query="level:error AND (")})
    (problem,) = problems(directory)
    assert problem.startswith(f"{directory}/a.yaml:6: groups.0 (g-q).rules.0 (q).query: invalid query at column 18:")


def test_template_syntax_error_names_the_annotation(tmp_path: Path) -> None:
    text = threshold_rule("t") + "        annotations:\n          ok: '{{ value }}'\n          summary: '{{ value '\n"
    directory = make_dir(tmp_path, {"a.yaml": text})
    (problem,) = problems(directory)
    assert problem.startswith(f"{directory}/a.yaml:11: groups.0 (g-t).rules.0 (t).annotations.summary: template")


def test_unknown_type_lists_the_known_types(tmp_path: Path) -> None:
    text = "groups:\n  - name: g\n    rules:\n      - name: r\n        type: frequency\n"
    (problem,) = problems(make_dir(tmp_path, {"a.yaml": text}))
    assert problem.endswith(
        f":5: groups.0 (g).rules.0 (r).type: unknown rule type 'frequency': use one of {', '.join(KNOWN_TYPES)}"
    )
    assert "threshold" in KNOWN_TYPES and "sequence" in KNOWN_TYPES


def test_duplicate_names_across_files_name_both_files(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {"a.yaml": threshold_rule("dup"), "b.yaml": threshold_rule("dup")})
    assert problems(directory) == (
        f"{directory}/b.yaml:4: groups.0 (g-dup).rules.0 (dup).name: rule name 'dup' is already used in "
        f"{directory}/a.yaml:4",
    )


def test_duplicate_names_within_a_file(tmp_path: Path) -> None:
    text = threshold_rule("dup") + threshold_rule("dup").replace("groups:\n", "").replace("g-dup", "g2")
    (problem,) = problems(make_dir(tmp_path, {"a.yaml": text}))
    assert problem.endswith(
        ":11: groups.1 (g2).rules.0 (dup).name: rule name 'dup' is already used at line 4 of this file"
    )


def test_duplicate_group_names_within_a_file(tmp_path: Path) -> None:
    (problem,) = problems(make_dir(tmp_path, {"a.yaml": "groups:\n  - name: g\n  - name: g\n"}))
    assert problem.endswith("a.yaml:3: groups.1 (g).name: group name 'g' is used twice in this file")


def test_every_file_is_reported_and_bad_yaml_too(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {"a.yaml": "groups: [", "b.yaml": BROKEN, "c.yaml": "- a list"})
    found = problems(directory)
    assert [p.split(":")[0].rsplit("/", 1)[1] for p in found] == ["a.yaml", "b.yaml", "c.yaml"]
    assert "invalid YAML" in found[0] and "must be a mapping" in found[2]


def test_errors_are_config_errors_and_a_missing_directory_is_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        load_rules_dir(tmp_path / "missing")


def test_an_empty_file_has_no_rules(tmp_path: Path) -> None:
    assert len(load_rules_dir(make_dir(tmp_path, {"a.yaml": ""}))) == 0
