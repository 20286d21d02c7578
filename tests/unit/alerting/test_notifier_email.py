"""Email notifier against a real SMTP server on loopback (aiosmtpd): the received mail parsed with the `email`
package (headers, threading, both parts, the evidence, escaping), STARTTLS and implicit TLS with login (a
throwaway certificate made with the `openssl` command), and the outcome of each kind of SMTP answer."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import ValidationError

from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import Outcome
from logwarden.alerting.notifiers.email import EmailConfig, EmailNotifier
from tests.conftest import free_port
from tests.unit.alerting.notifier_cases import SEARCH, firing, resolved, second_alert
from tests.unit.alerting.smtp import Inbox, self_signed_certificate, server_context, smtp_server


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"s3cret pass")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (cert, key)."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"), "127.0.0.1", "IP:127.0.0.1")


def mailer(port: int, **settings: Any) -> EmailNotifier:
    config = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "from": "Logwarden <alerts@example.com>",
        "to": ["oncall@example.com"],
        "timeout": "5s",
        **settings,
    }
    return EmailNotifier(EmailConfig.model_validate(config))


def test_registered() -> None:
    assert NOTIFIERS["email"] is EmailNotifier
    assert EmailNotifier.default_rate_limit is None


def test_firing_mail_has_both_parts_the_evidence_and_thread_headers() -> None:
    with smtp_server() as (port, inbox):
        result = mailer(port, cc=["Team Lead <lead@example.com>"], headers={"Reply-To": "ops@example.com"}).send(
            firing()
        )
    assert (result.outcome, result.status) == (Outcome.DELIVERED, 250)
    assert result.answer == "accepted for 2 of 2 recipients"
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "alerts@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    mail = inbox.mail()
    group = f"<{firing().group_id}.group@example.com>"
    assert mail["Subject"] == "[FIRING:1] logwarden-test"
    assert mail["From"] == "Logwarden <alerts@example.com>"
    assert mail["To"] == "oncall@example.com"
    assert mail["Cc"] == "Team Lead <lead@example.com>"
    assert mail["Reply-To"] == "ops@example.com"
    assert mail["In-Reply-To"] == group and mail["References"] == group
    assert mail["Message-ID"].endswith("@example.com>") and mail["Message-ID"] != group
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Logwarden-Status"] == "firing"
    assert mail["Date"] is not None
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]

    text = mail.get_body(("plain",))
    assert text is not None
    assert text.get_content() == (
        "[FIRING:1] logwarden-test\n"
        "\n"
        "FIRING logwarden-test (warning): This is a test notification from logwarden\n"
        "  value 101 (threshold 100) over 1m\n"
        "  labels: alertname=logwarden-test service=checkout severity=warning tenant=default\n"
        "  since 2026-03-01 11:59:00 UTC\n"
        "  > 2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s\n"
        "  top host: web-1 (61), web-2 (40)\n"
        f"  search: {SEARCH}\n"
    )
    html_part = mail.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert '<h2 style="margin:0 0 12px;color:#c62828">[FIRING:1] logwarden-test</h2>' in html
    assert '<b style="color:#c62828">FIRING</b>' in html
    assert ">101 (threshold 100) over 1m</td>" in html
    assert "Top host: web-1 (61), web-2 (40)</p>" in html
    assert "\n2026-03-01 11:59:55 UTC ERROR checkout: payment gateway timeout after 30s\n</pre>" in html
    assert f'<a href="{SEARCH}">Show the lines</a>' in html


def test_resolved_mail_threads_with_the_firing_one_and_escapes_log_text() -> None:
    n = resolved()
    n = dataclasses.replace(n, alerts=[*n.alerts, second_alert("resolved", ends_at=n.alerts[0].ends_at)])
    with smtp_server() as (port, inbox):
        notifier = mailer(port)
        notifier.send(firing())
        notifier.send(n)
    first, second = inbox.mail(0), inbox.mail(1)
    assert second["Subject"] == "[RESOLVED] logwarden-test"
    assert second["X-Logwarden-Status"] == "resolved"
    assert second["In-Reply-To"] == first["In-Reply-To"] == f"<{n.group_id}.group@example.com>"
    assert second["Message-ID"] != first["Message-ID"]
    html_part, text_part = second.get_body(("html",)), second.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, text = html_part.get_content(), text_part.get_content()
    assert "<br>resolved 2026-03-01 12:05:00 UTC</td>" in html
    assert '<h2 style="margin:0 0 12px;color:#2e7d32">[RESOLVED] logwarden-test</h2>' in html
    assert "ERROR a&lt;b&gt;&amp;c: x &lt; y &amp; ```z```\n</pre>" in html  # log text cannot inject markup
    assert "<b>" not in html
    assert "> 2026-03-01 11:58:00 UTC ERROR a<b>&c: x < y & ```z```" in text
    assert "payment gateway timeout after 30s" in text  # the evidence is in resolved mails too


def test_user_templates_and_non_ascii_subject() -> None:
    settings = {
        "subject": "【告警】{{ alerts[0].labels.service }}\n{{ status }}",
        "text": "{{ severity }}",
        "html": "<p>{{ status }}</p>",
    }
    with smtp_server() as (port, inbox):
        mailer(port, **settings).send(firing())
    mail = inbox.mail()
    assert mail["Subject"] == "【告警】checkout firing"  # one line, RFC 2047-encoded on the wire
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and text.get_content() == "warning\n"
    assert html is not None and html.get_content() == "<p>firing</p>\n"


def test_starttls_with_login(certificate: tuple[Path, Path]) -> None:
    settings = {
        "tls_context": server_context(certificate),
        "require_starttls": True,  # the server refuses MAIL before STARTTLS…
        "authenticator": authenticate,
        "auth_required": True,  # …and before a login
    }
    with smtp_server(**settings) as (port, inbox):
        login = {"username": "alerts", "password": "s3cret pass", "ca_file": str(certificate[0])}
        result = mailer(port, tls="starttls", **login).send(firing())
        assert (result.outcome, result.status) == (Outcome.DELIVERED, 250)
        assert len(inbox.envelopes) == 1

        wrong = mailer(port, tls="starttls", **{**login, "password": "guess"}).send(firing())
        assert (wrong.outcome, wrong.status) == (Outcome.REJECTED, 535), wrong

        untrusted = mailer(port, tls="starttls", username="alerts", password="s3cret pass").send(firing())
        assert untrusted.outcome is Outcome.REJECTED
        assert "does not verify" in untrusted.answer and "ca_file" in untrusted.answer

        skipped = mailer(port, tls="starttls", insecure_skip_verify=True, **{**login, "ca_file": None}).send(firing())
        assert skipped.outcome is Outcome.DELIVERED
        assert len(inbox.envelopes) == 2


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    with smtp_server(ssl_context=server_context(certificate)) as (port, inbox):
        result = mailer(port, tls="ssl", ca_file=str(certificate[0])).send(resolved())
    assert result.outcome is Outcome.DELIVERED
    assert inbox.mail()["Subject"] == "[RESOLVED] logwarden-test"


def test_a_server_without_starttls_gets_nothing_unless_allowed() -> None:
    with smtp_server() as (port, inbox):
        refused = mailer(port, tls="starttls").send(firing())
        assert refused.outcome is Outcome.REJECTED
        assert "does not offer STARTTLS" in refused.answer
        assert inbox.envelopes == []
        allowed = mailer(port, tls="starttls", require_tls=False).send(firing())
        assert allowed.outcome is Outcome.DELIVERED
        assert len(inbox.envelopes) == 1


def test_login_on_a_server_without_auth_is_rejected() -> None:
    with smtp_server() as (port, _):
        result = mailer(port, username="alerts", password="x").send(firing())
    assert result.outcome is Outcome.REJECTED
    assert "AUTH" in result.answer


def test_smtp_replies_decide_the_outcome() -> None:
    rcpt = {"gone@example.com": "550 5.1.1 no such user", "full@example.com": "452 4.2.2 mailbox full"}
    with smtp_server(Inbox(rcpt)) as (port, inbox):
        gone = mailer(port, to=["gone@example.com"]).send(firing())
        assert (gone.outcome, gone.status) == (Outcome.REJECTED, 550)
        assert gone.answer == "all recipients refused: gone@example.com (550 5.1.1 no such user)"
        full = mailer(port, to=["full@example.com", "gone@example.com"]).send(firing())
        assert (full.outcome, full.status) == (Outcome.RETRIABLE, 452)
        partly = mailer(port, to=["oncall@example.com", "gone@example.com"]).send(firing())
        assert partly.outcome is Outcome.DELIVERED  # resending would mail oncall twice
        assert partly.answer == "accepted for 1 of 2 recipients; refused: gone@example.com (550 5.1.1 no such user)"
        assert [e.rcpt_tos for e in inbox.envelopes] == [["oncall@example.com"]]

    with smtp_server(Inbox(data="451 4.3.0 try again later")) as (port, _):
        later = mailer(port).send(firing())
    assert (later.outcome, later.status, later.answer) == (Outcome.RETRIABLE, 451, "451 4.3.0 try again later")
    with smtp_server(Inbox(data="554 5.6.0 message refused")) as (port, _):
        refused = mailer(port).send(firing())
    assert (refused.outcome, refused.status) == (Outcome.REJECTED, 554)


def test_a_server_down_or_silent_is_retriable() -> None:
    down = mailer(free_port()).send(firing())
    assert down.outcome is Outcome.RETRIABLE
    assert "ConnectionRefusedError" in down.answer
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never greets
        slow = mailer(silent.getsockname()[1], timeout="200ms").send(firing())
    assert slow.outcome is Outcome.RETRIABLE
    assert "timed out" in slow.answer


def test_describe_and_config() -> None:
    config = EmailConfig.model_validate(
        {"host": "smtp.example.com", "port": 465, "from": "a@example.com", "to": ["b@example.com"],
         "username": "a", "password": "pa55word"}
    )  # fmt: skip
    assert config.security == "ssl"  # port 465: TLS from the start
    described = EmailNotifier(config).describe()
    assert described == "smtp+ssl://smtp.example.com:465 to b@example.com"
    assert "pa55word" not in described and "pa55word" not in repr(config)
    base = {"host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]}
    assert EmailConfig.model_validate(base).security == "starttls"
    with pytest.raises(ValidationError, match="'nobody' is not a recipient address"):
        EmailConfig.model_validate({**base, "to": ["nobody"]})
    with pytest.raises(ValidationError, match="at least 1 item"):
        EmailConfig.model_validate({**base, "to": []})
    with pytest.raises(ValidationError, match="set both username and password"):
        EmailConfig.model_validate({**base, "username": "a"})
    with pytest.raises(ValidationError, match="template syntax error on line 1"):
        EmailConfig.model_validate({**base, "subject": "{% for %}"})
    with pytest.raises(ValidationError, match="invalid mail header"):
        EmailConfig.model_validate({**base, "headers": {"X-A": "b\r\nBcc: evil@example.com"}})
