"""HTTPS and client certificates on a real `logwarden serve`: certificates made here, real clients (httpx, the
agent's shipper, the Python SDK), SIGHUP swapping the certificate of new connections."""

from __future__ import annotations

import logging
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from logwarden.agent.config import ClientTlsConfig, OutputConfig
from logwarden.agent.shipper import HttpShipper, Verdict
from logwarden.sdk.handler import LogwardenHandler
from tests.conftest import ServerProcess
from tests.integration.test_agent import AgentProcess
from tests.unit.auth.certs import Issued, issue, make_ca

pytestmark = pytest.mark.slow


@dataclass
class Pki:
    """The CA, the server's certificate and client certificates (`agent-1.test` ingest, `reader.test` viewer,
    `nobody.test` unmapped, and `intruder.test` from another CA)."""

    directory: Path
    ca: Issued
    server: Issued
    agent: Issued
    reader: Issued
    nobody: Issued
    intruder: Issued

    def client(self, who: Issued | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca.cert_file))
        if who is not None:
            ctx.load_cert_chain(who.cert_file, who.key_file)
        return ctx


def make_pki(directory: Path) -> Pki:
    ca = make_ca(directory)
    other_ca = make_ca(directory / "other", "another CA")
    return Pki(
        directory=directory,
        ca=ca,
        server=issue(ca, directory, "logwarden.test", server=True, stem="server"),
        agent=issue(ca, directory, "agent-1.test", server=False),
        reader=issue(ca, directory, "reader.test", server=False),
        nobody=issue(ca, directory, "nobody.test", server=False),
        intruder=issue(other_ca, directory / "other", "intruder.test", server=False),
    )


class TlsServer(ServerProcess):
    """`logwarden serve --config` with TLS on; ready once /readyz answers over HTTPS."""

    def __init__(self, data_dir: Path, config: Path, pki: Pki) -> None:
        super().__init__(data_dir, "--config", str(config))
        self.url = f"https://127.0.0.1:{self.port}"
        self.pki = pki

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(verify=self.pki.client(self.pki.agent), timeout=1) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    if client.get(self.url + "/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.log()}")

    def peer_certificate(self, who: Issued | None) -> x509.Certificate:
        """The certificate a new connection gets from the server."""
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw,
            self.pki.client(who).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)


def write_config(path: Path, pki: Pki, client_auth: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "auth": {"enabled": True, "credential_cache": "0s"},
                "http": {
                    "tls": {
                        "cert_file": str(pki.server.cert_file),
                        "key_file": str(pki.server.key_file),
                        "client_auth": client_auth,
                        "client_ca_file": str(pki.ca.cert_file),
                        "client_principals": [
                            {"name": "agent-1.test", "tenant": "acme", "role": "ingest"},
                            {"name": "reader.test", "tenant": "acme", "role": "viewer"},
                        ],
                    }
                },
            }
        )
    )
    return path


def start(tmp: Path, client_auth: str) -> tuple[TlsServer, Pki]:
    pki = make_pki(tmp / "pki")
    server = TlsServer(tmp / "data", write_config(tmp / "logwarden.yaml", pki, client_auth), pki)
    try:
        server.wait_ready()
    except BaseException:
        server.close()
        raise
    return server, pki


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """One server for the module: client certificates required."""
    server, _ = start(tmp_path_factory.mktemp("mtls"), "require")
    yield server
    server.close()


def search(server: TlsServer, who: Issued, text: str) -> list[dict[str, Any]]:
    with httpx.Client(verify=server.pki.client(who), timeout=10) as client:
        resp = client.post(server.url + "/api/v1/query", json={"q": text, "start": "now-1h", "limit": 100})
    assert resp.status_code == 200, resp.text
    hits: list[dict[str, Any]] = resp.json()["hits"]
    return hits


def wait_for_hits(server: TlsServer, text: str, count: int, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        hits = search(server, server.pki.reader, text)
        if len(hits) >= count or time.monotonic() > deadline:
            return hits
        time.sleep(0.1)


def test_https_with_a_client_certificate_authenticates_as_its_mapped_principal(mtls: TlsServer) -> None:
    pki = mtls.pki
    with httpx.Client(verify=pki.client(pki.agent), timeout=10) as agent:
        resp = agent.post(mtls.url + "/api/v1/ingest", content=b'{"msg": "over mtls https", "service": "tls"}')
        assert resp.status_code == 200, resp.text
        assert resp.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        me = agent.get(mtls.url + "/api/v1/auth/me")
        assert me.status_code == 200, me.text
        assert (me.json()["tenant"], me.json()["role"]) == ("acme", "ingest")
        # An ingest principal cannot read, even over a verified certificate.
        assert agent.post(mtls.url + "/api/v1/query", json={"q": "tls"}).status_code == 403
    hits = wait_for_hits(mtls, "over mtls https", 1)
    assert [h["message"] for h in hits] == ["over mtls https"]


def test_plain_http_to_the_https_port_fails(mtls: TlsServer) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{mtls.port}/readyz", timeout=5)


def test_a_client_without_a_certificate_is_refused_under_require(mtls: TlsServer) -> None:
    with pytest.raises(httpx.TransportError), httpx.Client(verify=mtls.pki.client(None), timeout=5) as client:
        client.get(mtls.url + "/readyz")


def test_a_certificate_from_another_ca_is_refused(mtls: TlsServer) -> None:
    with pytest.raises(httpx.TransportError), httpx.Client(verify=mtls.pki.client(mtls.pki.intruder)) as client:
        client.get(mtls.url + "/readyz")


def test_a_verified_but_unmapped_certificate_needs_a_credential(mtls: TlsServer) -> None:
    with httpx.Client(verify=mtls.pki.client(mtls.pki.nobody), timeout=10) as client:
        assert client.get(mtls.url + "/readyz").status_code == 200  # open route: TLS itself is fine
        resp = client.post(mtls.url + "/api/v1/query", json={"q": "x"})
        assert resp.status_code == 401, resp.text


def test_the_agent_ships_with_its_client_certificate(mtls: TlsServer) -> None:
    pki = mtls.pki
    output = OutputConfig(
        url=mtls.url,
        tls=ClientTlsConfig(ca_file=pki.ca.cert_file, cert_file=pki.agent.cert_file, key_file=pki.agent.key_file),
    )
    shipper = HttpShipper(output)
    try:
        body = b"\n".join(orjson.dumps({"msg": f"agent over mtls {i}", "service": "agent"}) for i in range(3))
        outcome = shipper.send(body, gzipped=False)
    finally:
        shipper.close()
    assert outcome.verdict is Verdict.STORED, outcome
    assert len(wait_for_hits(mtls, '"agent over mtls"', 3)) == 3
    # Without its certificate the same shipper gets no answer: a retry, not a stored batch.
    bare = HttpShipper(OutputConfig(url=mtls.url, tls=ClientTlsConfig(ca_file=pki.ca.cert_file)))
    try:
        assert bare.send(body, gzipped=False).verdict is Verdict.RETRY
    finally:
        bare.close()


def test_the_agent_process_tails_a_file_and_ships_over_mtls(mtls: TlsServer, tmp_path: Path) -> None:
    pki = mtls.pki
    logs = tmp_path / "logs"
    logs.mkdir()
    config = {
        "id": "tls-agent",
        "data_dir": str(tmp_path / "agent-data"),
        "inputs": [{"paths": [str(logs / "*.log")], "service": "tls-agent"}],
        "output": {
            "url": mtls.url,
            "batch": {"max_lines": 100, "max_wait": "100ms"},
            "retry": {"initial_delay": "50ms", "max_delay": "400ms"},
            "tls": {
                "ca_file": str(pki.ca.cert_file),
                "cert_file": str(pki.agent.cert_file),
                "key_file": str(pki.agent.key_file),
            },
        },
        "tail": {"poll_interval": "20ms", "scan_interval": "100ms"},
    }
    agent = AgentProcess(tmp_path, config, "agent")
    try:
        (logs / "app.log").write_text("".join(f"tailed over mtls {i}\n" for i in range(20)))
        hits = wait_for_hits(mtls, '"tailed over mtls"', 20)
        assert len(hits) == 20, agent.log()
        assert agent.terminate() == 0
    finally:
        agent.close()


def test_the_agent_refuses_to_start_with_an_unreadable_client_certificate(mtls: TlsServer, tmp_path: Path) -> None:
    missing = tmp_path / "gone.crt"
    config = {
        "id": "tls-agent",
        "data_dir": str(tmp_path / "agent-data"),
        "inputs": [{"paths": [str(tmp_path / "*.log")]}],
        "output": {"url": mtls.url, "tls": {"cert_file": str(missing)}},
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "logwarden", "agent", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "output.tls.cert_file" in proc.stderr and str(missing) in proc.stderr


def test_the_sdk_ships_with_its_client_certificate(mtls: TlsServer) -> None:
    pki = mtls.pki
    handler = LogwardenHandler(
        mtls.url,
        service="sdk-mtls",
        ca_file=str(pki.ca.cert_file),
        cert_file=str(pki.agent.cert_file),
        key_file=str(pki.agent.key_file),
        flush_interval=0.05,
        max_retries=1,
    )
    logger = logging.getLogger("tests.tls.sdk")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for i in range(5):
            logger.info("sdk over mtls %d", i)
        assert handler.drain(10)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert (handler.stats.sent, handler.stats.failed) == (5, 0)
    assert len(wait_for_hits(mtls, '"sdk over mtls"', 5)) == 5


def test_sighup_swaps_the_certificate_of_new_connections(tmp_path: Path) -> None:
    server, pki = start(tmp_path, "optional")
    try:
        first = server.peer_certificate(None)
        assert first == pki.server.cert
        # optional: a client without a certificate connects; a protected route still needs a credential.
        with httpx.Client(verify=pki.client(None), timeout=10) as anonymous:
            assert anonymous.get(server.url + "/readyz").status_code == 200
            assert anonymous.post(server.url + "/api/v1/query", json={"q": "x"}).status_code == 401
        with httpx.Client(verify=pki.client(pki.reader), timeout=10) as reader:
            assert reader.post(server.url + "/api/v1/query", json={"q": "x"}).status_code == 200

        renewed = issue(pki.ca, pki.directory, "logwarden.test", server=True, stem="server")  # same files
        server.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: server.peer_certificate(None) == renewed.cert), server.log()

        # A broken file: the reload fails, says why, and new connections keep the last good certificate.
        pki.server.key_file.write_bytes(
            pki.agent.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        server.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "TLS reload failed" in server.log()), server.log()
        assert "http.tls.cert_file" in server.log()
        assert server.peer_certificate(None) == renewed.cert
        assert server.proc.poll() is None
        assert server.terminate() == 0
    finally:
        server.close()


def wait_until(check: Any, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def serve_fails(tmp_path: Path, config: dict[str, Any], *extra: str) -> str:
    """`logwarden serve` with `config`: must exit 2 at once; its stderr."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "logwarden", "serve", "--config", str(path), "--data-dir", str(tmp_path / "d"), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    return proc.stderr


def test_bad_tls_files_fail_at_start_naming_the_field_and_the_file(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    missing = tmp_path / "nowhere.crt"
    err = serve_fails(tmp_path, {"http": {"tls": {"cert_file": str(missing)}}})
    assert "http.tls.cert_file" in err and str(missing) in err and "Traceback" not in err
    # A key that is not the certificate's, while something else holds the port: the TLS error comes first.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = serve_fails(
            tmp_path,
            {"http": {"tls": {"cert_file": str(pki.server.cert_file), "key_file": str(pki.agent.key_file)}}},
            "--http-port",
            str(port),
        )
    assert "http.tls.key_file" in err and str(pki.agent.key_file) in err and "cannot listen" not in err
    err = serve_fails(tmp_path, {"http": {"tls": {"cert_file": str(pki.server.cert_file), "client_auth": "require"}}})
    assert "client_ca_file" in err


def test_non_loopback_without_auth_is_refused_before_the_socket_opens(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = serve_fails(tmp_path, {}, "--http-host", "0.0.0.0", "--http-port", str(port))
    assert "without authentication" in err and "cannot listen" not in err
