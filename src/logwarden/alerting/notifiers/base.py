"""The notifier contract: one module per channel under `alerting/notifiers/`, each with a typed config.

A notifier module defines a `NotifierConfig` subclass (its settings, each with a docstring: docs/alerting.md's
reference is generated from them; secrets as `SecretStr`) and a `Notifier` subclass naming it (`kind`, the key
a receiver uses: `webhook: {url: …}`, and `config_model`). Modules are discovered on import
(`alerting/notifiers/__init__.py`): no registry to edit.

`send` delivers one `Notification` and says how it went, Vector's split:
- `DELIVERED`: the channel took it;
- `RETRIABLE`: it may take it later (5xx, 429, timeouts, connection errors) — the queue retries with backoff;
- `REJECTED`: it never will as sent (4xx, a vendor error code for a bad request or bad credentials) — not
  retried, kept in the history and counted in /metrics.
`send` never raises for what the channel or the network does; it runs on a delivery thread (blocking I/O is fine).

Also here, what the HTTP channels share (a channel module imports only this module, `render` and, for the chat
robots, `chat_webhook` — never another channel): `USER_AGENT`, `http_url` / `SecretHttpUrl` (config-time URL
checks), `HttpAuthConfig` and `BasicAuth` (credentials and headers for endpoints the user runs),
`Notifier.deliver_json` (post, then classify the answer), `classify_errcode` (the `errcode` answers of the Chinese
chat robots) and `go_time` (timestamps as Go writes them).
"""

from __future__ import annotations

import base64
import enum
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from logwarden import __version__
from logwarden.alerting.model import Notification
from logwarden.model.units import Duration, parse_duration

ANSWER_CHARS = 2000  # of a channel's answer kept in the history
USER_AGENT = f"logwarden/{__version__}"  # sent by every HTTP channel
GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager writes as `endsAt` while an alert fires


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRIABLE = "retriable"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one attempt went: the outcome, the channel's status (an HTTP status, an SMTP reply code) and answer
    (truncated to ANSWER_CHARS), and for RETRIABLE an optional wait the channel asked for (Retry-After)."""

    outcome: Outcome
    status: int | None = None
    answer: str = ""
    retry_after: float | None = None

    @classmethod
    def delivered(cls, status: int | None = None, answer: str = "") -> DeliveryResult:
        return cls(Outcome.DELIVERED, status, answer[:ANSWER_CHARS])

    @classmethod
    def retriable(cls, answer: str, status: int | None = None, retry_after: float | None = None) -> DeliveryResult:
        return cls(Outcome.RETRIABLE, status, answer[:ANSWER_CHARS], retry_after)

    @classmethod
    def rejected(cls, answer: str, status: int | None = None) -> DeliveryResult:
        return cls(Outcome.REJECTED, status, answer[:ANSWER_CHARS])


class RateLimit(BaseModel):
    """At most `count` notifications per `per` through one integration (DingTalk robots take 20 a minute);
    further ones wait in the queue — none is dropped. Written `{count: 20, per: 1m}` or `"20/1m"`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(ge=1)
    per: Duration = Field(gt=timedelta(0))

    @classmethod
    def parse(cls, value: Any) -> Any:
        if isinstance(value, str) and "/" in value:
            count, _, per = value.partition("/")
            return {"count": int(count.strip()), "per": parse_duration(per.strip())}
        return value


class NotifierConfig(BaseModel):
    """Settings every channel has. Subclasses add their own, each with a docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    send_resolved: bool = True
    """Also notify when the alerts of a group resolve (with the same evidence as when they fired)."""
    timeout: Duration = Field(timedelta(seconds=10), gt=timedelta(0))
    """How long one attempt may take (connect, send, answer); past it the attempt is retried."""
    rate_limit: RateLimit | None = None
    """At most this many notifications per period through this integration (`20/1m`); the rest wait. Unset: the
    channel's own default (see each channel), none for channels without a documented limit."""

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> Any:
        return RateLimit.parse(value)


class Notifier(ABC):
    """One configured integration of a receiver (a receiver may have several, of one kind or many)."""

    kind: ClassVar[str]  # the receiver key that selects it: `webhook`, `slack`, `email`, …
    config_model: ClassVar[type[NotifierConfig]]
    default_rate_limit: ClassVar[RateLimit | None] = None  # the vendor's documented limit, if any

    def __init__(self, config: NotifierConfig, *, http: httpx.Client | None = None) -> None:
        """`http`: the client to send through (shared by the delivery workers; tests pass their own)."""
        self.config = config
        self._http = http
        self._owns_http = http is None  # a client made here is closed by `close`
        self._http_lock = threading.Lock()  # delivery workers may send through one notifier at once
        limit = config.rate_limit or self.default_rate_limit
        self.limiter = RateLimiter(limit.count, limit.per.total_seconds()) if limit else None

    @property
    def http(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None:
                self._http = httpx.Client(follow_redirects=False)
            return self._http

    def close(self) -> None:
        """Release what the notifier opened itself (its HTTP client when none was given)."""
        with self._http_lock:
            if self._owns_http and self._http is not None:
                self._http.close()
                self._http = None

    @abstractmethod
    def send(self, notification: Notification) -> DeliveryResult:
        """Deliver `notification` once; never raises for what the channel or network does."""

    def describe(self) -> str:
        """Where it sends to, without secrets (history, `notify test`): a URL's scheme, host and path."""
        url = getattr(self.config, "url", None)
        if url is not None and hasattr(url, "get_secret_value"):
            url = url.get_secret_value()
        return redact_url(str(url)) if url else self.kind

    # --- helpers for HTTP channels ------------------------------------------------------------------

    def post_json(
        self, url: str, payload: Any, *, headers: dict[str, str] | None = None
    ) -> httpx.Response | DeliveryResult:
        """POST `payload` as JSON; the response, or a RETRIABLE result when the network failed or timed out."""
        try:
            return self.http.post(url, json=payload, headers=headers, timeout=self.config.timeout.total_seconds())
        except httpx.TimeoutException as exc:
            return DeliveryResult.retriable(f"timed out: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return DeliveryResult.retriable(f"{type(exc).__name__}: {exc}")

    def deliver_json(
        self,
        url: str,
        payload: Any,
        *,
        headers: Mapping[str, str] | None = None,
        classify: Callable[[httpx.Response], DeliveryResult] | None = None,
    ) -> DeliveryResult:
        """POST `payload` as JSON (with `headers`, by default just the User-Agent) and say how it went: a network
        failure RETRIABLE, else what `classify` (by default `classify_http`: the HTTP status) makes of the answer."""
        sent = dict(headers) if headers is not None else {"User-Agent": USER_AGENT}
        answer = self.post_json(url, payload, headers=sent)
        if isinstance(answer, DeliveryResult):
            return answer
        return (classify or classify_http)(answer)


def classify_http(response: httpx.Response) -> DeliveryResult:
    """The outcome an HTTP answer means: 2xx delivered; 408, 425, 429 and 5xx retriable (honouring Retry-After);
    any other status rejected."""
    code = response.status_code
    answer = response.text[:ANSWER_CHARS]
    if 200 <= code < 300:
        return DeliveryResult.delivered(code, answer)
    if code in (408, 425, 429) or code >= 500:
        return DeliveryResult.retriable(answer or response.reason_phrase, code, _retry_after(response))
    return DeliveryResult.rejected(answer or response.reason_phrase, code)


def classify_errcode(
    response: httpx.Response,
    vendor: str,
    retriable: Mapping[int, tuple[str, float | None]],
    *,
    code_keys: tuple[str, ...] = ("errcode",),
    message_keys: tuple[str, ...] = ("errmsg",),
) -> DeliveryResult:
    """A chat robot's JSON answer (`{"errcode": 0, "errmsg": "ok"}`: WeCom and DingTalk; Feishu says `code` / `msg`,
    its older bots `StatusCode` / `StatusMessage`, hence the key lists, first present wins): code 0 delivered;
    the `retriable` codes (code → why, seconds to wait or None) retriable; other codes rejected; an answer without
    a code rejected naming `vendor` (`WeCom robot`); non-2xx statuses by `classify_http`."""
    if not 200 <= response.status_code < 300:
        return classify_http(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    code = _first(body, code_keys)
    if code is None:
        return DeliveryResult.rejected(f"not a {vendor} answer: {response.text[:200]}", response.status_code)
    if code == 0:
        return DeliveryResult.delivered(response.status_code, response.text)
    message = _first(body, message_keys)
    answer = f"{code_keys[0]} {code}: {'' if message is None else message}"
    if isinstance(code, int) and code in retriable:
        why, wait = retriable[code]
        return DeliveryResult.retriable(f"{answer} ({why})", response.status_code, wait)
    return DeliveryResult.rejected(answer, response.status_code)


def _first(body: Any, keys: tuple[str, ...]) -> Any:
    """The value of the first of `keys` that `body` (a JSON object, else nothing is found) has, or None."""
    if isinstance(body, dict):
        for key in keys:
            if body.get(key) is not None:
                return body[key]
    return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the backoff decides


def redact_url(url: str) -> str:
    """A URL without its query string and credentials (webhook URLs often carry tokens there)."""
    try:
        parsed = httpx.URL(url)
    except Exception:
        return "<invalid url>"
    return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))


def http_url(value: str, field: str = "url") -> str:
    """`value` if it is an absolute http(s) URL with a host, else a ValueError saying what is wrong."""
    try:
        url = httpx.URL(value)
    except Exception:
        raise ValueError(f"{field}: not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{field}: use an absolute http:// or https:// URL")
    return value


def _secret_http_url(value: SecretStr) -> SecretStr:
    http_url(value.get_secret_value())
    return value


# A URL setting that is a secret (webhook URLs carry their token) and must be an absolute http(s) URL.
SecretHttpUrl = Annotated[SecretStr, AfterValidator(_secret_http_url)]


def go_time(value: datetime | None) -> str:
    """RFC 3339 in UTC as Go's `time.Time` marshals it (fraction without trailing zeros); Go's zero time for None.
    Alertmanager's JSON (its webhook payload, its API) is written this way."""
    if value is None:
        return GO_ZERO_TIME
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # naive times in the alert log are UTC
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


class BasicAuth(BaseModel):
    """HTTP basic authentication."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    username: str = Field(min_length=1)
    """User name."""
    password: SecretStr
    """Password."""


class HttpAuthConfig(NotifierConfig):
    """Settings of channels that post to an endpoint the user runs: authentication and extra headers."""

    basic_auth: BasicAuth | None = None
    """HTTP basic authentication: `{username: …, password: …}`."""
    bearer_token: SecretStr | None = None
    """Sent as `Authorization: Bearer <token>` (not together with `basic_auth`)."""
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Extra request headers (`{X-Api-Key: …}`); their values are treated as secrets."""

    @model_validator(mode="after")
    def _one_auth(self) -> HttpAuthConfig:
        if self.basic_auth is not None and self.bearer_token is not None:
            raise ValueError("set either basic_auth or bearer_token, not both")
        if any(name.lower() == "content-type" for name in self.headers):
            raise ValueError("headers: Content-Type is set by the channel (application/json)")
        return self

    def request_headers(self) -> dict[str, str]:
        """The headers to send: User-Agent, the extra headers, then Authorization."""
        out = {"User-Agent": USER_AGENT}
        out.update({name: value.get_secret_value() for name, value in self.headers.items()})
        if self.basic_auth is not None:
            pair = f"{self.basic_auth.username}:{self.basic_auth.password.get_secret_value()}"
            out["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        elif self.bearer_token is not None:
            out["Authorization"] = "Bearer " + self.bearer_token.get_secret_value()
        return out


class RateLimiter:
    """A token bucket: `count` sends per `per` seconds, refilled continuously (thread-safe)."""

    def __init__(self, count: int, per: float, clock: Any = time.monotonic) -> None:
        self.capacity = float(count)
        self.rate = count / per
        self._tokens = float(count)
        self._clock = clock
        self._at = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token: 0.0 when one was free, else the seconds until one will be (none taken then)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate
