"""Apprise: the long tail of notification services (Matrix, ntfy, Gotify, Pushover, Signal, Discord, …) through
the `apprise` library and its URLs (`ntfys://ntfy.example.com/alerts`, `matrixs://…`); the optional extra
`logwarden[apprise]`.

Apprise says only whether every URL took the message (`Apprise.notify` is true or false; newer versions add
the services' log lines, kept as the answer), so a failure is always RETRIABLE: apprise cannot tell a bad
token from a service that is down. Several URLs in one integration are retried together (one that failed
sends again to all); list separate `apprise:` integrations to retry each service on its own.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from types import ModuleType
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr, field_validator

from logwarden.alerting.model import Notification, severity_rank
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, NotifierConfig
from logwarden.alerting.notifiers.render import TemplateSource

MISSING = "the apprise receiver needs the `apprise` package, the optional extra: pip install 'logwarden[apprise]'"
DEFAULT_TITLE = render.DEFAULT_TITLE
DEFAULT_BODY = render.DEFAULT_MARKDOWN


@functools.cache
def load_apprise() -> ModuleType:
    """The `apprise` module with its plugins loaded; ValueError naming the extra when it is not installed."""
    try:
        import apprise
    except ImportError:
        raise ValueError(MISSING) from None
    # Loading the plugins imports `imghdr`, deprecated since Python 3.11: do it once, quietly, now.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        apprise.Apprise.instantiate("json://localhost")
    return apprise


class AppriseConfig(NotifierConfig):
    """Any service Apprise supports, by its Apprise URL (`ntfys://…`, `matrixs://…`, `pover://…`,
    `discord://…`): a title and a markdown body with the alerts, their sample lines and the search link.
    Needs the optional extra `logwarden[apprise]`."""

    urls: list[SecretStr] = Field(min_length=1)
    """Apprise URLs (https://github.com/caronc/apprise/wiki); each usually holds a token, so they are secrets.
    All get every notification; a failure of any retries all."""
    title: TemplateSource | None = None
    """Jinja2 template of the title (default `[FIRING:2] error-burst service=api`)."""
    body: TemplateSource | None = None
    """Jinja2 template of the body, markdown (default: every alert with value, labels, top values, sample lines
    and the search link); Apprise converts it for services that take text or HTML."""

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        apprise = load_apprise()
        for i, url in enumerate(value):
            text = url.get_secret_value()
            if apprise.Apprise.instantiate(text) is None:
                scheme = text.partition("://")[0] if "://" in text else ""
                raise ValueError(
                    f"urls[{i}]: not a URL apprise can send to (scheme {scheme!r}); see "
                    "https://github.com/caronc/apprise/wiki for the services and their URLs"
                )
        return value


def notify_type(notification: Notification) -> str:
    """Apprise's message type (it picks icons and colours): success when resolved, else by severity."""
    if notification.status == "resolved":
        return "success"
    rank = severity_rank(notification.severity)
    return "failure" if rank >= 4 else "info" if 0 < rank < 3 else "warning"


class AppriseNotifier(Notifier):
    """Sends notifications through Apprise to every configured URL."""

    kind: ClassVar[str] = "apprise"
    config_model: ClassVar[type[NotifierConfig]] = AppriseConfig
    config: AppriseConfig

    def __init__(self, config: AppriseConfig, *, http: httpx.Client | None = None) -> None:
        super().__init__(config, http=http)
        self._apprise = load_apprise()  # at start: a missing extra is a config error, not a failed delivery

    def message(self, notification: Notification) -> tuple[str, str]:
        """The (title, markdown body) of `notification`."""
        cfg = self.config
        title = render.render(cfg.title or DEFAULT_TITLE, notification, default=DEFAULT_TITLE)
        body = render.render(cfg.body or DEFAULT_BODY, notification, default=DEFAULT_BODY)
        return " ".join(title.split()), body.strip()

    def send(self, notification: Notification) -> DeliveryResult:
        apprise = self._apprise
        title, body = self.message(notification)
        timeout = self.config.timeout.total_seconds()
        # A fresh Apprise per attempt: delivery threads never share a plugin's state.
        sender = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
        for url in self.config.urls:
            service = apprise.Apprise.instantiate(url.get_secret_value(), asset=sender.asset)
            if service is None:
                return DeliveryResult.rejected("an apprise URL no longer parses")
            if "cto=" not in url.get_secret_value():
                service.socket_connect_timeout = timeout
            if "rto=" not in url.get_secret_value():
                service.socket_read_timeout = timeout
            sender.add(service)
        kwargs: dict[str, Any] = {"timeout": timeout} if _has_call_timeout(apprise) else {}
        try:
            result = sender.notify(
                body=body,
                title=title,
                notify_type=notify_type(notification),
                body_format=apprise.NotifyFormat.MARKDOWN,
                **kwargs,
            )
        except Exception as exc:  # a plugin's bug must not kill the delivery thread
            return DeliveryResult.retriable(f"apprise failed: {type(exc).__name__}: {exc}")
        try:
            ok = bool(result)
            answer = _answer(result, len(self.config.urls))
        finally:
            close = getattr(result, "close", None)
            if callable(close):
                close()
        return DeliveryResult.delivered(answer=answer) if ok else DeliveryResult.retriable(answer)

    def describe(self) -> str:
        """The URLs as apprise prints them with secrets masked."""
        shown = []
        for url in self.config.urls:
            service = self._apprise.Apprise.instantiate(url.get_secret_value())
            shown.append(service.url(privacy=True) if service is not None else "<invalid apprise url>")
        return "apprise: " + ", ".join(shown)


@functools.cache
def _has_call_timeout(apprise: ModuleType) -> bool:
    """Whether `Apprise.notify` takes `timeout` (a bound on the whole call, apprise 1.10 and later)."""
    return "timeout" in inspect.signature(apprise.Apprise.notify).parameters


def _answer(result: Any, count: int) -> str:
    """What apprise said: the services' warnings and errors when it reports them, else a count."""
    if isinstance(result, bool):
        return f"sent to {count} services" if result else "apprise reported a failure (details in the server log)"
    lines = [
        f"{entry.level}: {entry.message}"
        for entry in getattr(result, "logs", lambda: ())()
        if str(getattr(entry, "level", "")) in ("WARNING", "ERROR", "CRITICAL")
    ]
    succeeded = getattr(result, "success_count", None)
    head = f"sent to {succeeded} of {count} services" if succeeded is not None else ""
    return "; ".join(x for x in (head, *lines) if x)
