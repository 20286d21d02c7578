"""The demo's sample rules and server config, sized to the schedule's windows (generator.DemoSchedule).

The rule files hold the threshold and absence rules; the new-exception rule (`new_value`) is created through the
API once the demo's history is stored, so that it learns the known exceptions from it and alerts only on a new one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from logwarden.demo.generator import DemoSchedule


def file_rules(schedule: DemoSchedule) -> dict[str, Any]:
    """The rule file's content: an error burst, a brute-force login, a silent service."""
    window = schedule.window
    return {
        "groups": [
            {
                "name": "demo",
                "rules": [
                    {
                        "name": "error-burst",
                        "description": "A service logs errors far above its usual few.",
                        "type": "threshold",
                        "query": "level:error",
                        "group_by": ["service"],
                        "window": window,
                        "threshold": schedule.burst_threshold,
                        "severity": "critical",
                        "top_fields": ["exception", "host"],
                        "annotations": {"summary": "{{ labels.service }} logged {{ value }} errors in " + window},
                    },
                    {
                        "name": "brute-force-login",
                        "description": "Many failed logins from one address.",
                        "type": "threshold",
                        "query": 'service:auth "login failed"',
                        "group_by": ["client_ip"],
                        "window": window,
                        "threshold": schedule.brute_threshold,
                        "severity": "critical",
                        "top_fields": ["user"],
                        "annotations": {
                            "summary": "{{ value }} failed logins from {{ labels.client_ip }} in " + window,
                        },
                    },
                    {
                        "name": "silent-service",
                        "description": "A service that was logging has stopped.",
                        "type": "absence",
                        "query": "*",
                        "group_by": ["service"],
                        "window": window,
                        "severity": "warning",
                        "annotations": {"summary": "{{ labels.service }} has logged nothing for " + window},
                    },
                ],
            }
        ]
    }


def new_exception_rule(schedule: DemoSchedule) -> dict[str, Any]:
    """The `new_value` rule on exception types (the `rule` of a `POST /api/v1/rules` body)."""
    return {
        "name": "new-exception-type",
        "description": "An exception type never seen before.",
        "type": "new_value",
        "query": "exception:*",
        "fields": ["exception"],
        "window": schedule.window,
        "severity": "info",
        "annotations": {"summary": "new exception type {{ labels.exception }}"},
    }


def server_config(data_dir: Path, rules_dir: Path, port: int, receiver_url: str, url: str) -> dict[str, Any]:
    """The server's YAML config: the data dir, the rules, and one route to the printing receiver."""
    return {
        "data_dir": str(data_dir),
        "http": {"host": "127.0.0.1", "port": port},
        "rules": {"dir": str(rules_dir)},
        "alerting": {
            "external_url": url,  # links in the notifications open the console
            "route": {
                "receiver": "demo-console",
                "group_by": ["alertname", "service"],
                "group_wait": "1s",
                "group_interval": "10s",
                "repeat_interval": "1h",
            },
            "receivers": [{"name": "demo-console", "webhook": {"url": receiver_url}}],
        },
    }


def write_files(directory: Path, schedule: DemoSchedule, port: int, receiver_url: str, url: str) -> Path:
    """Write the config and the rule file under `directory`; the config's path."""
    rules_dir = directory / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    (rules_dir / "demo.yaml").write_text(yaml.safe_dump(file_rules(schedule), sort_keys=False))
    config = directory / "logwarden.yaml"
    config.write_text(
        yaml.safe_dump(server_config(directory / "data", rules_dir, port, receiver_url, url), sort_keys=False)
    )
    return config
