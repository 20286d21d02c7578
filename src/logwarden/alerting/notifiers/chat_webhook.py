"""What the chat-robot channels (DingTalk, Feishu / Lark, WeCom) share; not a channel itself.

- `ChatRobotNotifier`: posts a JSON message to the robot's webhook and reads its `errcode` / `code` answer
  (`classify_errcode` with the channel's vendor name, retriable codes and answer keys); holds the wall clock that
  signed robots stamp their requests with.
- `wakes`: who a notification mentions — the configured people (firing, or resolved with `mention_resolved`) and
  everyone (firing at a severity in `at_all_severities`).
- `hmac_sha256_b64`: the base64 HMAC-SHA256 both signing robots use (each with its own key and message).
- `render_or_default`: a configured template, else the channel's default, rendered for a notification.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

import httpx

from logwarden.alerting.model import Notification
from logwarden.alerting.notifiers import render
from logwarden.alerting.notifiers.base import DeliveryResult, Notifier, NotifierConfig, classify_errcode


def hmac_sha256_b64(key: str, message: str) -> str:
    """base64(HMAC-SHA256(key, message)), both UTF-8: the signature DingTalk and Feishu robots check."""
    return base64.b64encode(hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()).decode()


def render_or_default(template: str | None, default: str, notification: Notification) -> str:
    """`template` (the user's, if set) or `default` rendered for `notification` (a broken one falls back to
    `default`, see `render.render`)."""
    return render.render(template or default, notification, default=default)


class MentionSettings(Protocol):
    """The mention settings each chat robot's config has (documented there, in the channel's own words)."""

    @property
    def at_all_severities(self) -> list[str]: ...

    @property
    def mention_resolved(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Wake:
    """Who one notification mentions: the configured people, and everyone."""

    people: bool
    everyone: bool


def wakes(notification: Notification, settings: MentionSettings) -> Wake:
    """Firing notifications mention the configured people (resolved ones too with `mention_resolved`), and
    everyone when their severity is in `at_all_severities`."""
    firing = notification.status == "firing"
    return Wake(
        people=firing or settings.mention_resolved,
        everyone=firing and notification.severity in settings.at_all_severities,
    )


class ChatRobotNotifier(Notifier):
    """A chat robot's webhook: JSON messages in, `{"errcode": 0, …}`-style answers out (subclasses name the
    vendor, the retriable codes and, for Feishu, other answer keys)."""

    vendor: ClassVar[str]  # named when an answer is not the robot's: "not a DingTalk robot answer"
    retriable_codes: ClassVar[Mapping[int, tuple[str, float | None]]] = {}  # code → (why, seconds to wait)
    code_keys: ClassVar[tuple[str, ...]] = ("errcode",)
    message_keys: ClassVar[tuple[str, ...]] = ("errmsg",)

    def __init__(
        self, config: NotifierConfig, *, http: httpx.Client | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        """`clock`: the wall clock a signed robot's timestamp comes from (tests pass a fixed one)."""
        super().__init__(config, http=http)
        self._clock = clock

    def classify(self, response: httpx.Response) -> DeliveryResult:
        """The robot's answer: code 0 delivered, `retriable_codes` retriable, others rejected (`classify_errcode`)."""
        return classify_errcode(
            response, self.vendor, self.retriable_codes, code_keys=self.code_keys, message_keys=self.message_keys
        )

    def post_message(self, url: str, payload: dict[str, object]) -> DeliveryResult:
        """POST one robot message to `url` and say how it went."""
        return self.deliver_json(url, payload, classify=self.classify)
