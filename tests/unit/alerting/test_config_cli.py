"""`logwarden alerts config get|set|delete` against a real server (uvicorn on loopback, in a thread)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from logwarden.alerting.cli import alerts
from tests.unit.alerting.capture import CaptureServer
from tests.unit.alerting.test_alerts_cli import live_server


def test_get_set_and_delete_a_tenants_alerting_config(tmp_path: Path) -> None:
    config = tmp_path / "team.yaml"
    (tmp_path / "srv").mkdir()
    with CaptureServer() as hook, live_server(tmp_path / "srv", hook.url) as server:
        # Not the loopback hook: tenants' receivers may not reach loopback (nothing is sent here anyway).
        team_url = "https://team-hooks.example/t"
        config.write_text(
            f"route: {{receiver: team}}\nreceivers:\n  - name: team\n    webhook: {{url: '{team_url}'}}\n"
        )

        def run(*args: str) -> str:
            result = CliRunner().invoke(alerts, ["config", *args, "--server", server.url, "--tenant", "acme"])
            assert result.exit_code == 0, result.output
            return result.output

        assert "# tenant acme: the config file's (fallback)" in run("get") and "name: ops" in run("get")
        assert "version 1 applied (added: team, removed: ops)" in run("set", str(config))
        shown = run("get")
        assert "its own, version 1" in shown and "receiver: team" in shown and team_url not in shown
        assert "back to the config file's" in run("delete")
        bad = CliRunner().invoke(alerts, ["config", "set", "-", "--server", server.url], input="route: {receiver: x}")
        assert bad.exit_code == 1 and "no receiver named 'x'" in bad.output
