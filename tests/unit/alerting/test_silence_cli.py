"""`logwarden alerts silence add|list|expire` with click's CliRunner against a real server (uvicorn on loopback, in a
thread): what the commands print, the matchers' forms, tenants, and every mistake a clear message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from logwarden.alerting.silence_cli import render_table, silence
from logwarden.api.app import create_app
from tests.conftest import free_port, make_config
from tests.live_server import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(create_app(make_config(tmp_path_factory.mktemp("silence-cli")), run_maintenance=False))
    live.start()
    yield live
    live.stop()


def run(server: LiveServer, *args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(silence, [*args, "--server", server.url], env={"USER": "ana", **(env or {})})


def listed(server: LiveServer, *args: str) -> list[dict[str, Any]]:
    result = run(server, "list", "-o", "json", *args)
    assert result.exit_code == 0, result.output
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def by_id(server: LiveServer, silence_id: str, *args: str) -> dict[str, Any]:
    return next(s for s in listed(server, *args) if s["id"] == silence_id)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_add_prints_the_id_and_list_shows_it(server: LiveServer) -> None:
    result = run(server, "add", "service=api", 'severity=~"warning|info"', "--duration", "2h", "-c", "deploying 1.4")
    assert result.exit_code == 0, result.output
    silence_id = result.stdout.strip()
    assert len(silence_id) == 32 and "\n" not in silence_id
    assert result.stderr.startswith('silenced service="api", severity=~"warning|info" until ')
    assert result.stderr.rstrip().endswith("(active)")
    made = by_id(server, silence_id)
    assert (made["created_by"], made["comment"], made["state"]) == ("ana", "deploying 1.4", "active")
    assert when(made["ends_at"]) - when(made["starts_at"]) == timedelta(hours=2)
    table = run(server, "list")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split("\t") == ["ID", "STATE", "MATCHERS", "STARTS", "ENDS", "CREATED BY", "COMMENT"]
    row = next(line.split("\t") for line in lines[1:] if line.startswith(silence_id))
    assert row == [
        silence_id,
        "active",
        'service="api", severity=~"warning|info"',
        made["starts_at"],
        made["ends_at"],
        "ana",
        "deploying 1.4",
    ]
    assert silence_id in run(server, "list", "-q").stdout.split()


def test_matcher_forms_and_defaults(server: LiveServer) -> None:
    # A bare word is an alert name; one argument may hold several matchers; the default duration is 1h.
    result = run(server, "add", "error-burst", '{host=~"web-.*", env!="dev"}', "-c", "noisy")
    assert result.exit_code == 0, result.output
    made = by_id(server, result.stdout.strip())
    assert [(m["name"], m["type"], m["value"]) for m in made["matchers"]] == [
        ("alertname", "=", "error-burst"),
        ("host", "=~", "web-.*"),
        ("env", "!=", "dev"),
    ]
    assert when(made["ends_at"]) - when(made["starts_at"]) == timedelta(hours=1)
    # --until and --start, and --author over $USER.
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    until = start + timedelta(minutes=45)
    args = ["add", "service=db", "-c", "migration", "--start", start.isoformat(), "--until", until.isoformat()]
    result = run(server, *args, "--author", "bo")
    assert result.exit_code == 0, result.output
    assert result.stderr.rstrip().endswith("(pending)")
    made = by_id(server, result.stdout.strip(), "--state", "pending")
    assert (when(made["starts_at"]), when(made["ends_at"]), made["created_by"]) == (start, until, "bo")


def test_list_filters_by_state_and_expire_ends_silences(server: LiveServer) -> None:
    ids = [run(server, "add", f"service=svc-{i}", "-d", "30m", "-c", "x").stdout.strip() for i in range(2)]
    result = run(server, "expire", *ids)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"expired {ids[0]}", f"expired {ids[1]}"]
    assert {s["id"] for s in listed(server, "--state", "expired")} >= set(ids)
    assert not {s["id"] for s in listed(server, "--state", "active")} & set(ids)
    quiet = run(server, "list", "--state", "expired", "-q")
    assert set(ids) <= set(quiet.stdout.split())
    # An unknown id: the others are still expired, the exit status says something failed.
    other = run(server, "add", "service=svc-9", "-c", "x").stdout.strip()
    result = run(server, "expire", "nope", other)
    assert result.exit_code == 1
    assert "logwarden: nope: 404: no silence with id 'nope'" in result.stderr
    assert result.stdout.splitlines() == [f"expired {other}"]


def test_tenants_and_the_server_from_the_environment(server: LiveServer) -> None:
    result = run(server, "add", "service=api", "-c", "acme only", "--tenant", "acme")
    assert result.exit_code == 0, result.output
    silence_id = result.stdout.strip()
    assert silence_id in {s["id"] for s in listed(server, "--tenant", "acme")}
    assert silence_id not in {s["id"] for s in listed(server)}
    assert run(server, "expire", silence_id).exit_code == 1  # not the default tenant's
    via_env = CliRunner().invoke(
        silence, ["expire", silence_id, "--tenant", "acme"], env={"LOGWARDEN_SERVER": server.url}
    )
    assert via_env.exit_code == 0 and via_env.stdout.strip() == f"expired {silence_id}"


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["add", "service=api", "-c", "x", "-d", "1h", "--until", "now+1h"], {}, 2, "give --duration or --until"),
        (["add", "service=api"], {}, 2, "Missing option '--comment'"),
        (["add", "-c", "x"], {}, 2, "Missing argument 'MATCHERS...'"),
        (["add", "service=api", "-c", "x"], {"USER": None}, 2, "--author: say who makes the silence"),
        (["add", 'service="api', "-c", "x"], {}, 2, "unterminated quote"),
        (["add", 'a=~".*"', "-c", "x"], {}, 1, 'logwarden: 400: matchers: a=~".*" also match alerts without'),
        (["add", "service=api", "-c", "x", "-d", "soon"], {}, 1, "400: duration: invalid duration 'soon'"),
        (["add", "service=api", "-c", "x", "--until", "2020-01-01T00:00:00Z"], {}, 1, "is in the past"),
        (["list", "--state", "muted"], {}, 2, "'muted' is not one of"),
        (["list", "--tenant", "no tenant"], {}, 1, "logwarden: 400: invalid tenant"),
        (["expire"], {}, 2, "Missing argument 'IDS...'"),
    ],
)
def test_mistakes_are_clear_messages(
    server: LiveServer, args: list[str], env: dict[str, str | None], code: int, message: str
) -> None:
    result = run(server, *args, env=env)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_an_unreachable_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["list"], ["add", "service=api", "-c", "x"], ["expire", "abc"]):
        result = CliRunner().invoke(silence, [*args, "--server", url], env={"USER": "ana"})
        assert result.exit_code == 1 and f"logwarden: cannot reach {url}" in result.stderr, result.output


def test_a_terminal_gets_a_rich_table(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    silences = [
        {
            "id": "3f2a" * 8,
            "state": "active",
            "matchers": [{"name": "service", "type": "=", "value": "api"}],
            "starts_at": "2026-03-02T12:00:00Z",
            "ends_at": "2026-03-02T14:00:00Z",
            "created_by": "ana",
            "comment": "deploying\n1.4",
        }
    ]
    render_table(silences, terminal=True)
    shown = capsys.readouterr().out
    assert "silences" in shown and "CREATED BY" in shown
    row = next(line for line in shown.splitlines() if "3f2a" in line)
    for cell in ("3f2a" * 8, "active", 'service="api"', "2026-03-02T14:00:00Z", "ana", "deploying 1.4"):
        assert cell in row
    assert "\t" not in shown


def test_the_server_answers_what_the_cli_sent(server: LiveServer) -> None:
    # The command's request is the API's documented body (no client-side reshaping the server does not know).
    result = run(server, "add", "error-burst", "-c", "x", "-d", "10m")
    made = httpx.get(f"{server.url}/api/v1/silences/{result.stdout.strip()}", timeout=10).json()
    assert made["matchers"] == [{"name": "alertname", "type": "=", "value": "error-burst"}]
    assert when(made["ends_at"]) - when(made["starts_at"]) == timedelta(minutes=10)
