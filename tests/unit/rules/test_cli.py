"""`logwarden rules check`: exit codes and outputs."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from logwarden.cli import main
from tests.unit.rules.samples import EXAMPLE, make_dir, threshold_rule


def test_check_lists_valid_rules_and_exits_0(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, {"a.yaml": EXAMPLE, "b.yaml": threshold_rule("b").replace("1m", "90s")})
    result = CliRunner().invoke(main, ["rules", "check", str(directory)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["FILE", "GROUP", "RULE", "TYPE", "SEVERITY", "WINDOW", "FOR", "ENABLED"]
    assert lines[1].split() == [
        f"{directory}/a.yaml:4",
        "seed",
        "error-burst",
        "threshold",
        "critical",
        "1m",
        "0s",
        "yes",
    ]
    assert lines[2].split()[1:] == ["g-b", "b", "threshold", "warning", "1m30s", "0s", "yes"]
    assert lines[1].index("seed") == lines[0].index("GROUP")  # aligned columns
    assert "valid (2 files, 2 groups, 2 rules)" in result.stderr


def test_check_prints_each_error_and_exits_1(tmp_path: Path) -> None:
    directory = make_dir(
        tmp_path, {"a.yaml": threshold_rule("a", threshold="x"), "b.yaml": threshold_rule("b", query="a AND (")}
    )
    result = CliRunner().invoke(main, ["rules", "check", str(directory)])
    assert result.exit_code == 1 and result.stdout == ""
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"{directory}/a.yaml:8: groups.0 (g-a).rules.0 (a).threshold: ")
    assert errors[1].startswith(f"{directory}/b.yaml:6: groups.0 (g-b).rules.0 (b).query: invalid query at column")
    assert errors[2] == f"2 error(s) in {directory}"


def test_check_json_output(tmp_path: Path) -> None:
    good = make_dir(tmp_path, {"a.yaml": EXAMPLE})
    result = CliRunner().invoke(main, ["rules", "check", "--output", "json", str(good)])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["valid"] is True and doc["errors"] == []
    assert doc["rules"] == [
        {
            "file": f"{good}/a.yaml", "line": 4, "group": "seed", "name": "error-burst", "type": "threshold",
            "severity": "critical", "window": "1m", "for": "0s", "enabled": True,
        }
    ]  # fmt: skip
    (good / "b.yaml").write_text(threshold_rule("error-burst"))
    result = CliRunner().invoke(main, ["rules", "check", "-o", "json", str(good)])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["valid"] is False and doc["rules"] == [] and "already used in" in doc["errors"][0]


def test_check_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rules", "check", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "does not exist" in result.stderr
