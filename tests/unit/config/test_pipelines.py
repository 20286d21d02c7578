"""Loading a config file's pipelines (`config.pipelines`: errors name file, line, pipeline and processor) and
`logwarden pipeline test` (`config.pipeline_cli`)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from logwarden.cli import main
from logwarden.config import ConfigError
from logwarden.config.pipelines import load_pipelines

ISSUE_EXAMPLE = """\
pipelines:
  - name: nginx
    match: {service: nginx}
    processors:
      - {type: grok, field: message, pattern: '%{COMBINEDAPACHELOG}'}
      - {type: convert, fields: {response: int, bytes: int}}
      - {type: user_agent, field: agent}
      - {type: redact, detectors: [email, credit_card]}
"""

ACCESS = (
    '203.0.113.9 - - [21/Nov/2026:10:00:00 +0000] "GET /a?mail=x@example.com HTTP/1.1" 404 512 "-" '
    '"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"'
)

WITH_TESTS = (
    ISSUE_EXAMPLE
    + f"""\
    tests:
      - name: a 404 from Firefox
        input: {{service: nginx, message: '{ACCESS}'}}
        expect: {{response: 404, bytes: 512, user_agent.browser: Firefox, verb: GET}}
        expect_absent: [pipeline_error]
      - name: other services pass untouched
        input: {{service: api, message: 'hello x@example.com'}}
        expect: {{message: 'hello x@example.com'}}
        expect_absent: [response]
  - name: drop-debug
    if: 'level:debug'
    processors:
      - {{type: drop}}
    tests:
      - input: {{level: debug, message: noise}}
        expect_dropped: true
"""
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "logwarden.yaml"
    path.write_text(text)
    return path


def test_the_issue_example_loads_as_written(tmp_path: Path) -> None:
    config, pipelines = load_pipelines(write(tmp_path, ISSUE_EXAMPLE))
    assert [p.name for p in config.pipelines] == ["nginx"]
    assert [s.id for s in pipelines.pipelines[0].steps] == ["grok#1", "convert#2", "user_agent#3", "redact#4"]
    pipelines.close()


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        # A build error: the processor and its setting are named, on the processor's line.
        ("%{COMBINEDAPACHELOG}", ":5: pipeline 'nginx', processor 1 (grok): pattern: "),
        # A validation error from the model.
        ("response: int", ":6: pipelines.0.processors.1.convert.fields.response"),
        # An unknown processor type.
        ("type: user_agent", ":7: pipelines.0.processors.2"),
    ],
)
def test_errors_name_file_line_pipeline_and_processor(tmp_path: Path, replace: str, expected: str) -> None:
    broken = {
        "%{COMBINEDAPACHELOG}": "%{NO_SUCH_PATTERN}",
        "response: int": "response: integer-ish",
        "type: user_agent": "type: user_agentz",
    }[replace]
    path = write(tmp_path, ISSUE_EXAMPLE.replace(replace, broken))
    with pytest.raises(ConfigError) as info:
        load_pipelines(path)
    assert f"{path}{expected}" in str(info.value)


def test_if_syntax_errors_name_the_column(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE.replace("match: {service: nginx}", "if: 'status:>=500 AND ('"))
    with pytest.raises(ConfigError) as info:
        load_pipelines(path)
    message = str(info.value)
    assert f"{path}:3: pipeline 'nginx': if: " in message
    assert "column" in message


def test_duplicate_pipeline_names_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE + ISSUE_EXAMPLE.removeprefix("pipelines:\n"))
    with pytest.raises(ConfigError, match="pipeline names must be unique: nginx"):
        load_pipelines(path)


def test_pipeline_test_prints_records_for_input_lines(tmp_path: Path) -> None:
    config = write(tmp_path, ISSUE_EXAMPLE)
    sample = tmp_path / "sample.log"
    sample.write_text(ACCESS + "\n" + '{"service": "api", "message": "not for nginx"}\n')
    result = CliRunner().invoke(
        main, ["pipeline", "test", "--config", str(config), "--input", str(sample), "--set", "service=nginx"]
    )
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    nginx, api = lines
    assert nginx["service"] == "nginx"
    assert nginx["attrs"]["response"] == 404
    assert nginx["attrs"]["user_agent.browser"] == "Firefox"
    assert "x@example.com" not in nginx["message"]
    assert api == {**api, "service": "api", "message": "not for nginx", "attrs": {}}
    assert "2 lines in, 2 out, 0 dropped, 0 with pipeline_error, 0 dead letters" in result.stderr


def test_pipeline_test_runs_inline_tests(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["pipeline", "test", "--config", str(write(tmp_path, WITH_TESTS))])
    assert result.exit_code == 0, result.output
    assert "PASS  nginx: a 404 from Firefox" in result.stdout
    assert "PASS  nginx: other services pass untouched" in result.stdout
    assert "PASS  drop-debug: test 1" in result.stdout
    assert "3 passed, 0 failed" in result.stderr


def test_failing_inline_tests_say_why_and_exit_1(tmp_path: Path) -> None:
    text = WITH_TESTS.replace("response: 404,", "response: 200,").replace("expect_dropped: true", "expect: {}")
    result = CliRunner().invoke(main, ["pipeline", "test", "--config", str(write(tmp_path, text))])
    assert result.exit_code == 1
    assert "FAIL  nginx: a 404 from Firefox" in result.stdout
    assert "response: expected 200, got 404" in result.stdout
    assert "FAIL  drop-debug: test 1" in result.stdout
    assert "the line was dropped" in result.stdout
    assert "1 passed, 2 failed" in result.stderr


def test_pipeline_test_with_an_invalid_config_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE.replace("grok", "grokk", 1))
    result = CliRunner().invoke(main, ["pipeline", "test", "--config", str(path)])
    assert result.exit_code == 2
    assert f"{path}:5:" in result.stderr
