"""A mistake in the `alerting:` section stops the server at start, naming the file, line and setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.config.loader import ConfigError, load_config

GOOD = """\
alerting:
  route:
    receiver: ops
    routes:
      - matchers: ['service=~"api|web"']
        receiver: web
        mute_time_intervals: [nights]
  receivers:
    - name: ops
      webhook: {url: 'http://127.0.0.1:9/hook'}
    - name: web
      webhook_configs: [{url: 'http://127.0.0.1:9/a'}, {url: 'http://127.0.0.1:9/b'}]
  time_intervals:
    - name: nights
      time_intervals: [{times: [{start_time: '22:00', end_time: '24:00'}], weekdays: ['monday:friday']}]
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "lw.yaml"
    path.write_text(text)
    return load_config(str(path), env={})


def test_a_good_section_loads_with_alertmanager_spellings(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    receivers = config.alerting.receivers  # type: ignore[attr-defined]
    assert [len(r.webhook) for r in receivers] == [1, 2]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("receiver: web", "receiver: db"), "route.routes[0].receiver: no receiver named 'db'"),
        (("mute_time_intervals: [nights]", "mute_time_intervals: [days]"), "no time interval named 'days'"),
        (('service=~"api|web"', 'service=~"(api"'), "invalid regular expression"),
        (("monday:friday", "friday:monday"), "a range must not end before it starts"),
        (("'24:00'", "'25:00'"), "write a time of day as HH:MM"),
        (("- name: web", "- name: ops"), "receivers: duplicate name 'ops'"),
        (("url: 'http://127.0.0.1:9/hook'", "uri: 'http://127.0.0.1:9/hook'"), "uri"),
        (("webhook: {url", "pager: {url"), "pager"),
    ],
)
def test_mistakes_name_the_setting(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as failed:
        load(tmp_path, GOOD.replace(*change))
    text = str(failed.value)
    assert "lw.yaml" in text and "alerting" in text and message in text, text
