"""agent.yaml: defaults, validation errors naming file, line and setting, and docs/agent.md kept in sync."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from logwarden.agent import config as cfg
from logwarden.agent.config import JsonParser, RawParser, load_agent_config
from logwarden.agent.docs import current_section, render
from logwarden.cli import main
from logwarden.config import ConfigError

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "agent.md"

MINIMAL = """\
inputs:
  - paths: [/var/log/app/*.log]
output:
  url: http://logwarden:8080/
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    return path


def test_minimal_config_and_defaults(tmp_path: Path) -> None:
    config = load_agent_config(write(tmp_path, MINIMAL))
    assert config.output.url == "http://logwarden:8080"
    assert isinstance(config.inputs[0].parser, RawParser)
    assert config.inputs[0].multiline is None
    assert config.output.batch.max_wait == timedelta(seconds=1)
    assert config.spool_dir == Path("logwarden-agent/spool")
    assert config.checkpoint_path == Path("logwarden-agent/checkpoints.json")
    with pytest.raises(ValueError, match="frozen"):
        config.inputs[0].service = "x"  # type: ignore[misc]


def test_full_config(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """\
  tenant: acme
  token: s3cret
  batch: {max_lines: 100, max_bytes: 64KiB, max_wait: 250ms}
  retry: {initial_delay: 100ms, max_delay: 5s}
spool: {dir: /tmp/spool, max_bytes: 10MiB, when_full: drop}
checkpoint: {path: /tmp/cp.json}
metrics: {port: null}
"""
    )
    text = text.replace(
        "  - paths: [/var/log/app/*.log]\n",
        "  - paths: [/var/log/app/*.log]\n    parser: json\n    multiline: {pattern: '^\\s', timeout: 2s}\n",
    )
    config = load_agent_config(write(tmp_path, text))
    assert isinstance(config.inputs[0].parser, JsonParser)
    assert config.inputs[0].multiline is not None and config.inputs[0].multiline.timeout == timedelta(seconds=2)
    assert config.output.batch.max_bytes == 64 * 1024
    assert config.output.token is not None and config.output.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    assert config.spool.when_full == "drop" and config.metrics.port is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            MINIMAL.replace(
                "  - paths: [/var/log/app/*.log]\n",
                "  - paths: [a]\n  - paths: [b]\n    multiline:\n      pattern: '(oops'\n",
            ),
            r"agent\.yaml:5: inputs\.1\.multiline\.pattern: Value error, invalid regular expression '\(oops'",
        ),
        (
            MINIMAL.replace("url: http://logwarden:8080/", "url: logwarden:8080"),
            r"agent\.yaml:4: output\.url: .*invalid URL",
        ),
        (
            MINIMAL.replace("output:\n  url: http://logwarden:8080/\n", "output: {}\n"),
            r"agent\.yaml:3: output\.url: Field required",
        ),
        (MINIMAL + "spoool: {}\n", r"agent\.yaml:5: spoool: Extra inputs are not permitted"),
        (
            MINIMAL.replace("[/var/log/app/*.log]", "[x]\n    parser: xml"),
            r"agent\.yaml:3: inputs\.0\.parser: Input tag 'xml' found using 'type' does not match",
        ),
        (
            MINIMAL + "spool: {max_bytes: 1KiB}\n",
            r"spool\.max_bytes \(1024\) must be at least output\.batch\.max_bytes",
        ),
        (
            MINIMAL.replace("[/var/log/app/*.log]", "[x]\n    attrs: {service: a}"),
            r"agent\.yaml:3: inputs\.0\.attrs: Value error, 'service' is a core field",
        ),
        ("inputs: []\noutput: {url: 'http://x'}\n", r"agent\.yaml:1: inputs: .*at least 1 item"),
        ("- just a list\n", r"agent\.yaml:1: the agent config must be a mapping"),
        ("inputs: [\n", r"agent\.yaml: invalid YAML"),
    ],
)
def test_errors_name_file_line_and_setting(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_agent_config(write(tmp_path, text))
    assert re.search(expected, str(err.value)), str(err.value)


def test_cli_check_and_error_exit(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["agent", "--config", str(write(tmp_path, MINIMAL)), "--check"])
    assert ok.exit_code == 0 and "valid (1 inputs" in ok.output
    bad = runner.invoke(main, ["agent", "--config", str(write(tmp_path, MINIMAL + "nope: 1\n"))])
    assert bad.exit_code == 2
    assert "agent.yaml:5: nope: Extra inputs are not permitted" in bad.output
    assert "Traceback" not in bad.output


def test_every_setting_has_a_docstring() -> None:
    models = (
        cfg.AgentConfig, cfg.FileInput, cfg.MultilineConfig, cfg.RawParser, cfg.JsonParser, cfg.OutputConfig,
        cfg.BatchConfig, cfg.RetryConfig, cfg.SpoolConfig, cfg.CheckpointConfig, cfg.MetricsConfig, cfg.TailConfig,
    )  # fmt: skip
    missing = []
    for model in models:
        assert model.__doc__, model.__name__
        for name, field in model.model_fields.items():
            section = isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
            if not field.description and not section:
                missing.append(f"{model.__name__}.{name}")
    assert missing == []


def test_reference_in_docs_is_up_to_date() -> None:
    assert current_section(DOC.read_text()) == render(), "regenerate with: python -m logwarden.agent.docs --write"


def test_examples_in_docs_are_valid(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.+?)```", DOC.read_text(), re.S)
    assert blocks, "docs/agent.md shows at least one config example"
    for block in blocks:
        if block.lstrip().startswith(("inputs:", "data_dir:", "id:")):
            load_agent_config(write(tmp_path, block))
