"""`logwarden users …` and `logwarden keys …` on a data dir, with no server running; then the key works on one."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.cli import main
from tests.conftest import make_config


def _run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_users_and_keys_from_the_command_line(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    code, out, err = _run(
        "users", "add", "root", "--role", "admin", "--data-dir", data, input="s3cret-pass\ns3cret-pass\n"
    )
    assert code == 0, err
    assert "user root added: role admin in tenant default" in out
    code, _, err = _run("users", "add", "root", "--data-dir", data, "--password-stdin", input="another-pass\n")
    assert code == 2 and "exists already" in err
    code, out, err = _run(
        "keys", "create", "--tenant", "acme", "--role", "ingest", "--expires", "90d", "--data-dir", data
    )
    assert code == 0, err
    key = out.strip().splitlines()[-1]
    assert key.startswith("lw_") and "not shown again" in err
    code, out, _ = _run("keys", "list", "--data-dir", data)
    assert code == 0 and key[:15] in out and "ingest\tacme\tactive" in out and key not in out
    code, _, err = _run("keys", "create", "--tenant", "acme", "--role", "owner", "--data-dir", data)
    assert code == 2 and "owner" in err

    config = make_config(tmp_path, **{"auth.enabled": True, "auth.credential_cache": "0s"})
    with TestClient(create_app(config, run_maintenance=False)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        assert client.post("/api/v1/ingest", content=b'{"msg": "hi"}', headers=auth).status_code == 200
        login = client.post("/api/v1/auth/login", json={"user": "root", "password": "s3cret-pass"})
        assert login.status_code == 200
        # Revoked from the command line while the server runs: refused at the next request (cache off here).
        code, out, err = _run("keys", "revoke", key[:15], "--data-dir", data)
        assert code == 0 and "revoked" in out, err
        assert client.post("/api/v1/ingest", content=b'{"msg": "hi"}', headers=auth).status_code == 401
        entries = client.get("/api/v1/audit", params={"action": "key."}, headers={"X-Scope-OrgID": "acme"}).json()
        assert [e["action"] for e in entries["entries"]] == ["key.revoke", "key.create"]
        assert all(e["actor"].startswith("cli:") for e in entries["entries"])
        code, out, _ = _run("users", "disable", "root", "--data-dir", data)
        assert code == 0 and "disabled" in out
        assert client.get("/api/v1/auth/me").status_code == 401  # its session ended with it
