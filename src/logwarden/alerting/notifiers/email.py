"""Email over SMTP (the standard library's `smtplib`, on the delivery thread): one multipart/alternative mail
per notification, plain text and HTML, threaded per aggregation group.

TLS: `starttls` (upgrade after connecting, port 587), `ssl` (TLS from the start, port 465) or `none`; the
default is `ssl` on port 465 and `starttls` elsewhere. With `starttls` and `require_tls` (the default) a server
that does not offer STARTTLS gets nothing. Certificates are verified against the system's CAs (or `ca_file`).
Threading: every mail of a group carries `In-Reply-To` / `References` naming one message id derived from the
group, so mail clients show a group's firing and resolved mails as one conversation.
Outcome: the server accepted the mail (250) delivered; 4xx replies, connection errors and timeouts retriable;
5xx replies (unknown recipient, authentication failed, message refused), a server without STARTTLS or AUTH
when they are required, and a certificate that does not verify rejected. Recipients refused while others
accepted the mail count as delivered (the answer names them), so the others do not get it twice.
A tenant's own receiver (alerting/tenant_config.py) goes through the outbound guard (alerting/notify/outbound.py):
the SMTP host is resolved, checked and connected to by address at every send (by the tenants' client's
`resolve_address`); a refused one is a retriable attempt naming the address and
`alerting.tenant_configs.allow_hosts`. STARTTLS and TLS verify the configured host name.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from logwarden.alerting.model import Notification
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, NotifierConfig
from logwarden.alerting.notifiers.render import TemplateSource

DEFAULT_SUBJECT = render.DEFAULT_TITLE
DEFAULT_TEXT = render.DEFAULT_TEXT

DEFAULT_HTML = """<!DOCTYPE html>
{% set cell = 'style="padding:6px 10px;border:1px solid #ddd;text-align:left;vertical-align:top"' %}
{% set red, green = '#c62828', '#2e7d32' %}
<html><head><meta charset="utf-8"><title>{{ title | html }}</title></head>
<body style="margin:0;padding:16px;font-family:-apple-system,'Segoe UI',Helvetica,Arial,'PingFang SC','Microsoft YaHei',sans-serif;font-size:14px;color:#222">
<h2 style="margin:0 0 12px;color:{{ red if status == 'firing' else green }}">{{ title | html }}</h2>
<table cellspacing="0" cellpadding="0" style="border-collapse:collapse;margin-bottom:16px">
<tr style="background:#f5f5f5">{% for h in ['Status', 'Alert', 'Severity', 'Value', 'Summary', 'Since'] %}<th {{ cell }}>{{ h }}</th>{% endfor %}</tr>
{% for a in alerts %}
<tr><td {{ cell }}><b style="color:{{ red if a.status == 'firing' else green }}">{{ a.status | upper }}</b></td>\
<td {{ cell }}>{{ a.name | html }}</td>\
<td {{ cell }}>{{ a.severity | html }}</td>\
<td {{ cell }}>{% if a.value is not none %}{{ a.value | number }}{% if a.threshold is not none %} (threshold {{ a.threshold | number }}){% endif %}{% if a.window %} over {{ a.window | html }}{% endif %}{% endif %}</td>\
<td {{ cell }}>{{ a.summary | html }}</td>\
<td {{ cell }}>{{ a.starts_at | time }}{% if a.ends_at %}<br>resolved {{ a.ends_at | time }}{% endif %}</td></tr>
{% endfor %}
</table>
{% for a in alerts %}
<h3 style="margin:16px 0 6px">{{ a.name | html }} <span style="color:{{ red if a.status == 'firing' else green }}">{{ a.status }}</span></h3>
<p style="margin:4px 0;color:#555">{% for k, v in a.labels | dictsort %}{{ k | html }}=<code>{{ v | html }}</code>{% if not loop.last %} {% endif %}{% endfor %}</p>
{% if a.acked %}
<p style="margin:4px 0">Acknowledged by {{ a.acked.by | html }}{% if a.acked.comment %}: {{ a.acked.comment | html }}{% endif %}</p>
{% endif %}
{% for field, values in a.top_values | dictsort %}
<p style="margin:4px 0">Top {{ field | html }}: {% for v in values[:5] %}{{ v[0] | html }} ({{ v[1] | html }}){% if not loop.last %}, {% endif %}{% endfor %}</p>
{% endfor %}
{% if a.evidence %}
<pre style="margin:8px 0;padding:8px;background:#f6f8fa;border:1px solid #e1e4e8;white-space:pre-wrap;font-size:12px">
{% for line in a.evidence[:5] %}
{{ line.ts | time | html }} {{ line.level | html }} {{ line.service | html }}: {{ line.message | clip | html }}
{% endfor %}
</pre>
{% endif %}
{% if a.url %}
<p style="margin:4px 0"><a href="{{ a.url | html }}">Show the lines</a></p>
{% endif %}
{% endfor %}
{% if truncated_alerts %}
<p>… and {{ truncated_alerts }} more alerts</p>
{% endif %}
</body></html>
"""  # noqa: E501


class _StartTLSMissingError(Exception):
    """The server does not offer STARTTLS although it is required."""


class EmailConfig(NotifierConfig):
    """Email through an SMTP server (STARTTLS or TLS, optional login): a text and an HTML part with the alerts,
    their sample lines, top values and a link to the search; a group's mails thread together."""

    model_config = ConfigDict(populate_by_name=True)

    host: str = Field(min_length=1)
    """The SMTP server (`smtp.example.com`)."""
    port: int = Field(587, ge=1, le=65535)
    """Its port: 587 (submission, STARTTLS), 465 (TLS from the start), 25 (relay)."""
    tls: Literal["starttls", "ssl", "none"] | None = None
    """`starttls`, `ssl` or `none`; unset: `ssl` on port 465, else `starttls`."""
    require_tls: bool = True
    """With `starttls`: send nothing when the server does not offer STARTTLS (false: send in clear then)."""
    ca_file: Path | None = None
    """PEM file of the CA certificates that sign the server's certificate (default: the system's)."""
    insecure_skip_verify: bool = False
    """Do not verify the server's certificate (testing only: anyone on the path can read the mails)."""
    username: str | None = None
    """Login name (AUTH); unset: no login."""
    password: SecretStr | None = None
    """Login password."""
    from_: str = Field(alias="from", min_length=3)
    """Sender: `logwarden@example.com` or `Logwarden <logwarden@example.com>`."""
    to: list[str] = Field(min_length=1)
    """Recipients."""
    cc: list[str] = Field(default_factory=list)
    """Copy recipients."""
    hello: str = "localhost"
    """The name given in EHLO."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra mail headers (`{Reply-To: oncall@example.com}`)."""
    subject: TemplateSource | None = None
    """Jinja2 template of the subject (default `[FIRING:2] error-burst service=api`)."""
    text: TemplateSource | None = None
    """Jinja2 template of the plain-text part (default: every alert with value, labels, sample lines, top values
    and the search link)."""
    html: TemplateSource | None = None
    """Jinja2 template of the HTML part (default: a table of the alerts, then each alert's labels, top values,
    sample lines and link). Escape what you insert with `| html`."""

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str) -> str:
        _addresses([value], "from")
        return value

    @field_validator("to", "cc")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        _addresses(value, "recipient")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not name or any(c in name for c in ": \r\n") or "\n" in text or "\r" in text:
                raise ValueError(f"invalid mail header {name!r}")
        return value

    @model_validator(mode="after")
    def _login(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        return self

    @property
    def security(self) -> Literal["starttls", "ssl", "none"]:
        """The TLS mode in effect."""
        return self.tls or ("ssl" if self.port == 465 else "starttls")


def _addresses(values: list[str], what: str) -> list[str]:
    """The bare addresses of `values` (`Name <a@b>` or `a@b`), ValueError for one that is not an address."""
    found = []
    for value in values:
        parsed = getaddresses([value])
        if len(parsed) != 1 or "@" not in parsed[0][1] or any(c in value for c in "\r\n"):
            raise ValueError(f"{value!r} is not a {what} address")
        found.append(parsed[0][1])
    return found


class EmailNotifier(Notifier):
    """Sends notifications as mails through an SMTP server."""

    kind: ClassVar[str] = "email"
    config_model: ClassVar[type[NotifierConfig]] = EmailConfig
    config: EmailConfig

    def message(self, notification: Notification) -> EmailMessage:
        """The mail for `notification`: headers, a text part and an HTML part."""
        cfg = self.config
        subject = render.render(cfg.subject or DEFAULT_SUBJECT, notification, default=DEFAULT_SUBJECT)
        text = render.render(cfg.text or DEFAULT_TEXT, notification, default=DEFAULT_TEXT)
        html = render.render(cfg.html or DEFAULT_HTML, notification, default=DEFAULT_HTML)
        domain = _addresses([cfg.from_], "from")[0].rpartition("@")[2] or "logwarden.invalid"
        thread = f"<{notification.group_id}.group@{domain}>"
        msg = EmailMessage()
        msg["Subject"] = " ".join(subject.split())  # one line, whatever the template made
        msg["From"] = cfg.from_
        msg["To"] = ", ".join(cfg.to)
        if cfg.cc:
            msg["Cc"] = ", ".join(cfg.cc)
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(idstring=notification.group_id[:12], domain=domain)
        msg["In-Reply-To"] = thread
        msg["References"] = thread
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to alerts
        msg["X-Logwarden-Status"] = notification.status
        msg["X-Logwarden-Group"] = notification.group_id
        for name, value in cfg.headers.items():
            del msg[name]
            msg[name] = value
        # Quoted-printable: 7-bit safe for servers without 8BITMIME, still readable in the raw mail.
        msg.set_content(text, cte="quoted-printable")
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
        return msg

    def send(self, notification: Notification) -> DeliveryResult:
        cfg = self.config
        msg = self.message(notification)
        recipients = _addresses([*cfg.to, *cfg.cc], "recipient")
        sender = _addresses([cfg.from_], "from")[0]
        smtp: smtplib.SMTP | None = None
        try:
            smtp = self._connect()
            if cfg.username is not None and cfg.password is not None:
                smtp.login(cfg.username, cfg.password.get_secret_value())
            refused = smtp.send_message(msg, from_addr=sender, to_addrs=recipients)
        except _StartTLSMissingError:
            return DeliveryResult.rejected(
                f"{cfg.host}:{cfg.port} does not offer STARTTLS (set `tls: none` or `require_tls: false` to send "
                "in clear)"
            )
        except smtplib.SMTPRecipientsRefused as exc:
            return _refused(exc.recipients)
        except smtplib.SMTPNotSupportedError as exc:
            return DeliveryResult.rejected(f"the server does not support what is needed: {exc}")
        except smtplib.SMTPResponseException as exc:
            return _reply(exc.smtp_code, exc.smtp_error)
        except ssl.SSLCertVerificationError as exc:
            return DeliveryResult.rejected(
                f"the certificate of {cfg.host} does not verify: {exc.verify_message} (set `ca_file`)"
            )
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            return DeliveryResult.retriable(f"{type(exc).__name__}: {exc}")
        finally:
            if smtp is not None:
                _close(smtp)
        answer = f"accepted for {len(recipients) - len(refused)} of {len(recipients)} recipients"
        if refused:
            answer += "; refused: " + ", ".join(f"{a} ({_text(c, m)})" for a, (c, m) in refused.items())
        return DeliveryResult.delivered(250, answer)

    def describe(self) -> str:
        cfg = self.config
        return f"smtp+{cfg.security}://{cfg.host}:{cfg.port} to {', '.join([*cfg.to, *cfg.cc])}"

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        timeout = cfg.timeout.total_seconds()
        # Tenants' receivers get the guarded client (alerting/notify/outbound.py), found by its method: a channel
        # module imports only the notifiers' base. Any other client (the operator's receivers): not checked.
        resolve: _Resolve | None = getattr(self._http, "resolve_address", None)
        if cfg.security == "ssl":
            return _CheckedSMTPSSL(
                cfg.host, cfg.port, resolve=resolve, local_hostname=cfg.hello, timeout=timeout, context=self._tls()
            )
        smtp = _CheckedSMTP(cfg.host, cfg.port, resolve=resolve, local_hostname=cfg.hello, timeout=timeout)
        try:
            if cfg.security == "starttls":
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self._tls())
                    smtp.ehlo()
                elif cfg.require_tls:
                    raise _StartTLSMissingError
        except BaseException:
            _close(smtp)
            raise
        return smtp

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.config.ca_file) if self.config.ca_file else None)
        if self.config.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


_Resolve = Callable[[str, int], str]  # (host, port) → the checked address to connect to; raises an OSError


class _CheckedSMTP(smtplib.SMTP):
    """An SMTP connection to the address `resolve` gives for the host (None: the host as configured); STARTTLS
    still verifies the configured host name (smtplib's `_host`)."""

    def __init__(self, host: str, port: int, *, resolve: _Resolve | None, **kwargs: Any) -> None:
        self.resolve = resolve  # set first: the base constructor connects
        super().__init__(host, port, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        address = self.resolve(host, port) if self.resolve is not None else host
        return super()._get_socket(address, port, timeout)  # type: ignore[misc,no-any-return]  # private in typeshed


class _CheckedSMTPSSL(_CheckedSMTP, smtplib.SMTP_SSL):
    """`_CheckedSMTP` with TLS from the start: the certificate verified against (and SNI sent for) the configured
    host name, not the address connected to."""


def _text(code: int, message: bytes | str) -> str:
    return f"{code} {message.decode(errors='replace') if isinstance(message, bytes) else message}"


def _reply(code: int, message: bytes | str) -> DeliveryResult:
    """An SMTP error reply: 5xx rejected (permanent), anything else (4xx, -1 for a broken reply) retriable."""
    answer = _text(code, message)
    if 500 <= code < 600:
        return DeliveryResult.rejected(answer, code)
    return DeliveryResult.retriable(answer, code if code > 0 else None)


def _refused(recipients: dict[str, Any]) -> DeliveryResult:
    """Every recipient refused: retriable when one of them was refused for now (4xx), else rejected."""
    answer = "all recipients refused: " + ", ".join(f"{a} ({_text(c, m)})" for a, (c, m) in recipients.items())
    codes = [c for c, _ in recipients.values()]
    if any(400 <= c < 500 for c in codes):
        return DeliveryResult.retriable(answer, min(codes))
    return DeliveryResult.rejected(answer, min(codes) if codes else None)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT and close; the mail is already accepted or lost, so what QUIT meets changes nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
