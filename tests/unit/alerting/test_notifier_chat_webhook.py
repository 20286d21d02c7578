"""What the chat robots share (`alerting/notifiers/chat_webhook.py`): who a notification wakes, the HMAC
signature, the errcode answers named by vendor, and that the shared module is not a channel itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import httpx
import pytest

from logwarden.alerting.model import Notification
from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import DeliveryResult, NotifierConfig, Outcome
from logwarden.alerting.notifiers.chat_webhook import ChatRobotNotifier, Wake, hmac_sha256_b64, wakes
from tests.unit.alerting.notifier_cases import firing, resolved


@dataclass(frozen=True)
class Mentions:
    at_all_severities: list[str] = field(default_factory=lambda: ["critical"])
    mention_resolved: bool = False


@pytest.mark.parametrize(
    ("notification", "settings", "expected"),
    [
        (firing(), Mentions(), Wake(people=True, everyone=False)),  # a warning: not everyone
        (firing(), Mentions(at_all_severities=["warning"]), Wake(people=True, everyone=True)),
        (resolved(), Mentions(at_all_severities=["warning"]), Wake(people=False, everyone=False)),
        (resolved(), Mentions(at_all_severities=["warning"], mention_resolved=True), Wake(people=True, everyone=False)),
        (firing(), Mentions(at_all_severities=[]), Wake(people=True, everyone=False)),
    ],
)
def test_wakes(notification: Notification, settings: Mentions, expected: Wake) -> None:
    assert wakes(notification, settings) == expected


def test_hmac_sha256_b64_matches_rfc_4231() -> None:
    # RFC 4231 test case 2 (HMAC-SHA256 of "what do ya want for nothing?" keyed "Jefe"), base64
    assert hmac_sha256_b64("Jefe", "what do ya want for nothing?") == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="


class _Robot(ChatRobotNotifier):
    kind: ClassVar[str] = "test-robot"
    config_model: ClassVar[type[NotifierConfig]] = NotifierConfig
    vendor: ClassVar[str] = "Test robot"
    retriable_codes: ClassVar[dict[int, tuple[str, float | None]]] = {7: ("busy", 3.0)}
    code_keys = ("code",)
    message_keys = ("msg",)

    def send(self, notification: Notification) -> DeliveryResult:
        raise NotImplementedError


def _answer(body: object) -> httpx.Response:
    return httpx.Response(200, json=body, request=httpx.Request("POST", "http://robot.invalid/"))


def test_classify_uses_the_channels_vendor_codes_and_keys() -> None:
    robot = _Robot(NotifierConfig())
    assert robot.classify(_answer({"code": 0})).outcome is Outcome.DELIVERED
    assert robot.classify(_answer({"code": 7, "msg": "later"})) == DeliveryResult.retriable(
        "code 7: later (busy)", 200, 3.0
    )
    assert robot.classify(_answer({"code": 9, "msg": "bad sign"})) == DeliveryResult.rejected("code 9: bad sign", 200)
    assert robot.classify(_answer({"errcode": 0})).answer.startswith("not a Test robot answer")


def test_the_shared_module_is_not_a_channel() -> None:
    assert all(n.__module__ != "logwarden.alerting.notifiers.chat_webhook" for n in NOTIFIERS.values())
    robots = {kind for kind, n in NOTIFIERS.items() if issubclass(n, ChatRobotNotifier)}
    assert robots == {"dingtalk", "feishu", "wecom"}
