"""The client commands (`query`, `tail`, `alerts`, `alerts silence`, `rules backtest`) against a real `logwarden
serve` with authentication and HTTPS on: `--api-key` / LOGWARDEN_API_KEY and `--ca-cert` / LOGWARDEN_CA_CERT."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from logwarden.cli import main
from tests.integration.test_tls import Pki, TlsServer, make_pki

pytestmark = pytest.mark.slow


class Served:
    """The server, its CA file and an editor key of tenant `acme`."""

    def __init__(self, server: TlsServer, key: str) -> None:
        self.server = server
        self.key = key
        self.ca = str(server.pki.ca.cert_file)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("cli")
    pki: Pki = make_pki(tmp / "pki")
    config = tmp / "logwarden.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "auth": {"enabled": True, "credential_cache": "0s"},
                "http": {"tls": {"cert_file": str(pki.server.cert_file), "key_file": str(pki.server.key_file)}},
            }
        )
    )
    server = TlsServer(tmp / "data", config, pki)
    try:
        server.wait_ready()
        created = CliRunner().invoke(
            main, ["keys", "create", "--tenant", "acme", "--role", "editor", "--data-dir", str(tmp / "data")]
        )
        assert created.exit_code == 0, created.output
        yield Served(server, created.output.strip().splitlines()[-1])
    finally:
        server.close()


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    # LOGWARDEN_* from the developer's shell must not leak in: only what the test gives.
    clean = {"LOGWARDEN_API_KEY": None, "LOGWARDEN_CA_CERT": None, "LOGWARDEN_SERVER": None, **(env or {})}
    return CliRunner().invoke(main, args, env=clean)


@pytest.mark.parametrize(
    "command",
    [
        ["query", "anything", "--since", "1h"],
        ["alerts", "list"],
        ["alerts", "history"],
        ["alerts", "silence", "list"],
    ],
)
def test_client_commands_send_the_api_key_and_trust_the_ca(served: Served, command: list[str]) -> None:
    target = ["--server", served.server.url]
    ok = run([*command, *target, "--api-key", served.key, "--ca-cert", served.ca])
    assert ok.exit_code == 0, ok.output
    from_env = run([*command, *target], env={"LOGWARDEN_API_KEY": served.key, "LOGWARDEN_CA_CERT": served.ca})
    assert from_env.exit_code == 0, from_env.output
    no_key = run([*command, *target, "--ca-cert", served.ca])
    assert no_key.exit_code == 1 and "401" in no_key.output, no_key.output
    wrong = run([*command, *target, "--ca-cert", served.ca, "--api-key", "lw_000000000000_wrong"])
    assert wrong.exit_code == 1 and "401" in wrong.output, wrong.output
    untrusted = run([*command, *target, "--api-key", served.key])  # the system CAs do not know the test CA
    assert untrusted.exit_code == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.output, untrusted.output


def test_rules_backtest_sends_the_api_key(served: Served, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "g",
                        "rules": [
                            {
                                "name": "errors",
                                "type": "threshold",
                                "query": "level:error",
                                "window": "5m",
                                "threshold": 1,
                            }
                        ],
                    }
                ]
            }
        )
    )
    args = ["rules", "backtest", "errors", "--rules", str(rules), "--server", served.server.url, "--ca-cert", served.ca]
    ok = run([*args, "--api-key", served.key, "--since", "1h"])
    assert ok.exit_code == 0, ok.output
    refused = run([*args, "--since", "1h"])
    assert refused.exit_code == 1 and "401" in refused.output, refused.output


def test_a_ca_cert_that_is_not_a_bundle_is_a_usage_error(served: Served, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("nothing here\n")
    result = run(["query", "x", "--server", served.server.url, "--api-key", served.key, "--ca-cert", str(junk)])
    assert result.exit_code == 2 and "--ca-cert" in result.output and str(junk) in result.output, result.output


def test_tail_follows_with_the_api_key_and_is_refused_without(served: Served) -> None:
    base = [sys.executable, "-m", "logwarden", "tail", "x", "--server", served.server.url, "--ca-cert", served.ca]
    refused = subprocess.run(base, capture_output=True, text=True, timeout=60, check=False, env=_env())
    assert refused.returncode == 1 and "401" in refused.stderr, refused.stderr
    with subprocess.Popen(
        [*base, "--api-key", served.key], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env()
    ) as follower:
        assert follower.stderr is not None
        first = follower.stderr.readline()  # said once the server accepted the stream
        follower.terminate()
        follower.wait(10)
    assert first.startswith("-- following x on https://"), first


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("LOGWARDEN_API_KEY", "LOGWARDEN_CA_CERT")}
