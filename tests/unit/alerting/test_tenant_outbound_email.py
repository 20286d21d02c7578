"""The outbound guard on tenants' email receivers: the SMTP host is resolved, checked and connected to by address at
every send (a name resolving to loopback is refused then, though it passed the PUT), TLS still verifies the
configured host name, an `allow_hosts` reload applies to the next mail, and the config file's email receivers are
never checked. A real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from logwarden.alerting.notifiers.base import Outcome
from logwarden.alerting.notifiers.email import EmailConfig, EmailNotifier
from logwarden.alerting.notify.outbound import OutboundPolicy, guarded_client, set_policy
from logwarden.auth.roles import Role
from tests.unit.alerting.notifier_cases import firing
from tests.unit.alerting.smtp import Inbox, self_signed_certificate, server_context, smtp_server
from tests.unit.alerting.test_tenant_config_api import delivery_attempts, fire, put
from tests.unit.auth.conftest import AuthServer, started

ROUTE = {"receiver": "ops", "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"}
LOOPBACK = ["127.0.0.0/8"]  # allows 127.0.0.1 but not ::1, so `localhost` is connected to by its IPv4 address


def email(port: int, host: str = "localhost", **settings: Any) -> dict[str, Any]:
    return {"host": host, "port": port, "tls": "none", "from": "alerts@example.com", "to": ["oncall@example.com"],
            "timeout": "5s", **settings}  # fmt: skip


def notifier(http: httpx.Client | None, port: int, **settings: Any) -> EmailNotifier:
    return EmailNotifier(EmailConfig.model_validate(email(port, **settings)), http=http)


@pytest.fixture
def mailbox() -> Iterator[tuple[int, Inbox]]:
    with smtp_server() as running:
        yield running


@pytest.fixture(scope="module")
def named_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway certificate for the name `localhost` only (no IP address in it): it verifies only when TLS is
    checked against the configured host name, not against the address connected to."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"), "localhost", "DNS:localhost")


def test_a_name_resolving_to_loopback_is_refused_at_send_time(mailbox: tuple[int, Inbox]) -> None:
    port, inbox = mailbox
    with guarded_client(OutboundPolicy()) as client:
        result = notifier(client, port).send(firing())
        assert result.outcome is Outcome.RETRIABLE, result
        assert "refused: localhost resolves to" in result.answer and "loopback" in result.answer
        assert "alerting.tenant_configs.allow_hosts" in result.answer
        literal = notifier(client, port, host="127.0.0.1").send(firing())  # a literal address, had it got past PUT
        assert literal.outcome is Outcome.RETRIABLE and "127.0.0.1 is a loopback address" in literal.answer
        assert inbox.envelopes == []

        set_policy(client, OutboundPolicy.from_settings(LOOPBACK))  # a reload of the operator's setting
        allowed = notifier(client, port).send(firing())
    assert allowed.outcome is Outcome.DELIVERED, allowed
    assert [e.rcpt_tos for e in inbox.envelopes] == [["oncall@example.com"]]


def test_a_name_that_does_not_resolve_is_a_failed_attempt(mailbox: tuple[int, Inbox]) -> None:
    with guarded_client(OutboundPolicy()) as client:
        result = notifier(client, mailbox[0], host="nowhere.invalid").send(firing())
    assert result.outcome is Outcome.RETRIABLE and "cannot resolve nowhere.invalid" in result.answer


def test_the_operators_email_receivers_are_not_checked(mailbox: tuple[int, Inbox]) -> None:
    port, inbox = mailbox
    with httpx.Client() as plain:  # the file receivers' client: not a guarded one
        assert notifier(plain, port).send(firing()).outcome is Outcome.DELIVERED
    assert notifier(None, port, host="127.0.0.1").send(firing()).outcome is Outcome.DELIVERED
    assert len(inbox.envelopes) == 2


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_tls_verifies_the_configured_name_while_connecting_to_the_checked_address(
    named_certificate: tuple[Path, Path], tls: str
) -> None:
    context = server_context(named_certificate)
    settings = {"ssl_context": context} if tls == "ssl" else {"tls_context": context, "require_starttls": True}
    with smtp_server(**settings) as (port, inbox), guarded_client(OutboundPolicy.from_settings(LOOPBACK)) as client:
        result = notifier(client, port, tls=tls, ca_file=str(named_certificate[0])).send(firing())
        assert result.outcome is Outcome.DELIVERED, result
        assert len(inbox.envelopes) == 1
        refused = notifier(client, port, host="::1", tls=tls, ca_file=str(named_certificate[0])).send(firing())
        assert refused.outcome is Outcome.RETRIABLE and "::1 is a loopback address" in refused.answer


def tenant_email(port: int, host: str) -> dict[str, Any]:
    return {"route": ROUTE, "receivers": [{"name": "ops", "email": email(port, host)}]}


def send_test(server: AuthServer) -> dict[str, Any]:
    """Alpha's admin presses Test on its receiver `ops`: the one result."""
    resp = server.client.post("/api/v1/receivers/ops/test", headers=server.headers("alpha", Role.ADMIN))
    assert resp.status_code == 200, resp.text
    (result,) = resp.json()["results"]
    return dict(result)


def wait_for(inbox: Inbox, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(inbox.envelopes) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(inbox.envelopes) >= count, f"{len(inbox.envelopes)} mails, {count} expected"


def test_a_tenant_email_receiver_is_refused_by_default_and_the_files_delivers(
    tmp_path: Path, mailbox: tuple[int, Inbox]
) -> None:
    port, inbox = mailbox
    file = {"alerting.route": ROUTE, "alerting.receivers": [{"name": "ops", "email": email(port, "127.0.0.1")}]}
    with started(tmp_path, **file) as server:
        assert put(server, "alpha", tenant_email(port, "localhost")).status_code == 200  # a name passes the PUT
        result = send_test(server)
        assert result["outcome"] == "retriable" and "refused: localhost resolves to" in result["answer"]
        fire(server, "alpha")
        fire(server, "bravo")  # the file's receiver: loopback, trusted
        wait_for(inbox, 1)
        attempts = delivery_attempts(server, "alpha")
        assert attempts and attempts[0]["outcome"] == "retriable"
        assert "refused: localhost resolves to" in attempts[0]["answer"] and "allow_hosts" in attempts[0]["answer"]
    assert len(inbox.envelopes) == 1 and "bravo" in inbox.mail().get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_tenant_email_receiver_is_delivered_when_the_operator_allows_it(
    tmp_path: Path, mailbox: tuple[int, Inbox]
) -> None:
    port, inbox = mailbox
    with started(tmp_path, **{"alerting.tenant_configs.allow_hosts": LOOPBACK}) as server:
        assert put(server, "alpha", tenant_email(port, "127.0.0.1")).status_code == 200
        assert send_test(server)["outcome"] == "delivered"
        assert put(server, "alpha", tenant_email(port, "localhost")).status_code == 200
        assert send_test(server)["outcome"] == "delivered"
    assert len(inbox.envelopes) == 2
