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
"""

from __future__ import annotations

import enum
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from logwarden.alerting.model import Notification
from logwarden.model.units import Duration, parse_duration

ANSWER_CHARS = 2000  # of a channel's answer kept in the history


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
