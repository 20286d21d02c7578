"""A real SMTP server on loopback (aiosmtpd) for the email notifier tests: an inbox that records what it accepts
and answers as scripted, and throwaway certificates for its TLS (made with the `openssl` command)."""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class Inbox:
    """aiosmtpd handler keeping every accepted mail; `rcpt` / `data` answers by address / for DATA."""

    def __init__(self, rcpt: dict[str, str] | None = None, data: str = "250 2.0.0 OK queued") -> None:
        self.envelopes: list[Envelope] = []
        self.rcpt = rcpt or {}
        self.data = data

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        answer = self.rcpt.get(address, "250 OK")
        if answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.data.startswith("250"):
            self.envelopes.append(envelope)
        return self.data

    def mail(self, index: int = 0) -> EmailMessage:
        """The `index`th accepted mail, parsed (line ends as `\n`)."""
        content = self.envelopes[index].content
        assert isinstance(content, bytes)
        content = content.replace(b"\r\n", b"\n")
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


class LoopbackController(Controller):
    """aiosmtpd's Controller on an ephemeral port (it needs the port to poke the server once started)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def smtp_server(inbox: Inbox | None = None, **settings: Any) -> Iterator[tuple[int, Inbox]]:
    inbox = inbox or Inbox()
    controller = LoopbackController(inbox, hostname="127.0.0.1", port=0, **settings)
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def self_signed_certificate(folder: Path, common_name: str, subject_alt_name: str) -> tuple[Path, Path]:
    """A self-signed server certificate (cert, key) in `folder` for `common_name` and `subject_alt_name` (openssl's
    form: `IP:127.0.0.1`, `DNS:localhost`); skips the test when the openssl command is not installed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed: no throwaway certificate for the TLS tests")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "3650", "-subj", f"/CN={common_name}",
         "-addext", f"subjectAltName={subject_alt_name}", "-addext", "extendedKeyUsage=serverAuth"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """The SMTP server's TLS context, serving `certificate` (cert, key)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context
