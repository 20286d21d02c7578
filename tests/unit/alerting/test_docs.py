"""docs/alerting.md promises what the code does: its reference is current, every setting is documented, and its
examples — the issue's shape first — load as written."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from logwarden.alerting.config import AlertingConfig
from logwarden.alerting.docs import generated_part, render, undocumented
from logwarden.alerting.service import build_notifiers

DOC = Path(__file__).resolve().parents[3] / "docs" / "alerting.md"

ISSUE_EXAMPLE = """\
alerting:
  route:
    receiver: ops
    group_by: [alertname, service]
    group_wait: 0s
    group_interval: 1m
    repeat_interval: 4h
  receivers:
    - name: ops
      webhook: {url: 'http://127.0.0.1:9099/hook'}
"""


def test_the_reference_is_up_to_date() -> None:
    assert generated_part(DOC.read_text()) == render(), (
        "regenerate with: python -m logwarden.alerting.docs --write docs/alerting.md"
    )


def test_every_alerting_setting_has_a_docstring() -> None:
    assert undocumented() == []


def test_the_examples_load_as_written_the_issue_example_first() -> None:
    examples = [e for e in re.findall(r"```yaml\n(.+?)```", DOC.read_text(), re.S) if e.startswith("alerting:")]
    assert examples[0] == ISSUE_EXAMPLE
    for text in examples:
        config = AlertingConfig.model_validate(yaml.safe_load(text)["alerting"])
        assert config.route is not None and config.receivers
        notifiers = build_notifiers(config)
        assert notifiers
        for notifier in notifiers.values():
            notifier.close()
    first = AlertingConfig.model_validate(yaml.safe_load(examples[0])["alerting"])
    assert list(build_notifiers(first)) == [("ops", "webhook[0]")]
