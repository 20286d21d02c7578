from __future__ import annotations

import threading
from typing import Any

import pytest
from pydantic import ValidationError

from logwarden.pipeline.fields import wide_from_records
from logwarden.pipeline.redact import Redact
from logwarden.pipeline.redact_detectors import is_card_number, luhn_ok
from tests.unit.pipeline.transforms.helpers import build, column, parse_config

FOUND = [
    ("mail bob.smith+x@example.co.uk now", "mail [REDACTED:email] now", "email"),
    ("card 4111 1111 1111 1111 ok", "card [REDACTED:credit_card] ok", "credit_card"),
    ("card 5555-5555-5555-4444.", "card [REDACTED:credit_card].", "credit_card"),
    ("amex 378282246310005", "amex [REDACTED:credit_card]", "credit_card"),
    ("call +44 20 7946 0958 today", "call [REDACTED:phone] today", "phone"),
    ("call (555) 123-4567", "call [REDACTED:phone]", "phone"),
    ("call 555-123-4567", "call [REDACTED:phone]", "phone"),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk x",
        "jwt [REDACTED:jwt] x",
        "jwt",
    ),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz123", "Authorization: Bearer [REDACTED:bearer]", "bearer"),
    ("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED:aws_key] used", "aws_key"),
    (
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key=[REDACTED:aws_key]",
        "aws_key",
    ),
    ("login user=bob password=hunter2 ok", "login user=bob password=[REDACTED:password] ok", "password"),
    ('{"user":"x","password": "my secret pass"}', '{"user":"x","password": "[REDACTED:password]"}', "password"),
    ("db_passwd: s3cr3t, api_key=abc", "db_passwd: [REDACTED:password], api_key=[REDACTED:password]", "password"),
]

CLEAN = [
    "order ORD-2024-000123 shipped, order_id=98765432101234",
    "at 2024-01-15T10:30:45.123Z took 12:30:45 (20240115123045)",
    "version 1.2.3 build 4.15.0-1051-aws v10.2.3.4",
    "request 550e8400-e29b-41d4-a716-446655440000 trace 4bf92f3577b34da6a3ce929d0e0e4736",
    "epoch_ms=1700000000000 bytes=4111111111111112 count=1234567890123",
    "from 10.0.0.1 and 2001:db8::1 (ip detectors are opt-in)",
    "std::vector<int> a::b c++",
    "tokens=5 max_tokens_per_call=100 passing=true bypass=no",
    "card on file: 4111 1111 1111 1112 (Luhn fails)",
    "tz +0200 offset +05:30 and a timestamp 2024-01-15 10:30:45 +0000",
    "the bearer of this letter",
]


def redact(message: str, **settings: object) -> tuple[str, Redact]:
    step = build({"type": "redact", **settings})
    assert isinstance(step, Redact)
    out = step.process(wide_from_records([{"message": message}]))
    return column(out, "message")[0], step


@pytest.mark.parametrize(("text", "expected", "detector"), FOUND)
def test_detectors_mask_what_they_find(text: str, expected: str, detector: str) -> None:
    redacted, step = redact(text)
    assert redacted == expected
    assert step.redactions[detector] >= 1


@pytest.mark.parametrize("text", CLEAN)
def test_non_pii_is_left_alone(text: str) -> None:
    redacted, step = redact(text)
    assert redacted == text
    assert sum(step.redactions.values()) == 0


def test_ip_detectors_when_enabled() -> None:
    text = "from 203.0.113.9 via 2001:db8::1 and ::ffff:192.0.2.1 at 12:30:45 mac 00:1a:2b:3c:4d:5e v1.2.3 999.1.1.1"
    redacted, step = redact(text, detectors=["ipv4", "ipv6"])
    assert redacted == (
        "from [REDACTED:ipv4] via [REDACTED:ipv6] and [REDACTED:ipv6] at 12:30:45"
        " mac 00:1a:2b:3c:4d:5e v1.2.3 999.1.1.1"
    )
    assert step.redactions == {"ipv4": 1, "ipv6": 2}


def test_hash_is_keyed_stable_and_joinable() -> None:
    a, _ = redact("user bob@example.com", action="hash", hash_key="k1")
    b, _ = redact("again bob@example.com", action="hash", hash_key="k1")
    c, _ = redact("user bob@example.com", action="hash", hash_key="k2")
    token = a.removeprefix("user ")
    assert token.startswith("[email:") and len(token) == len("[email:]") + 12
    assert b == "again " + token
    assert c != a


def test_hash_of_keyed_secrets_keeps_the_key() -> None:
    redacted, _ = redact("password=hunter2", action="hash", hash_key="k", hash_length=8)
    assert redacted.startswith("password=[password:") and len(redacted) == len("password=[password:]") + 8


def test_custom_mask_and_per_detector_actions() -> None:
    redacted, _ = redact(
        "bob@example.com paid 4111111111111111",
        mask="***{detector}***",
        actions={"email": "hash"},
        hash_key="k",
    )
    assert redacted.startswith("[email:") and redacted.endswith(" paid ***credit_card***")


def test_attributes_are_scanned_and_drop_field_removes_them() -> None:
    step = build({"type": "redact", "action": "drop_field"})
    records: list[dict[str, Any]] = [
        {"message": "contact bob@example.com", "contact": "bob@example.com", "note": "fine", "n": 4111111111111111},
        {"message": "nothing", "contact": "none", "note": "call +1 415 555 0100"},
    ]
    out = step.process(wide_from_records(records))
    assert column(out, "message") == ["contact [REDACTED:email]", "nothing"]
    assert column(out, "contact") == [None, "none"]
    assert column(out, "note") == ["fine", None]
    assert column(out, "n") == [4111111111111111, None]  # numbers are not text attributes


def test_only_named_fields_are_scanned() -> None:
    step = build({"type": "redact", "fields": ["contact"]})
    out = step.process(wide_from_records([{"message": "bob@example.com", "contact": "bob@example.com"}]))
    assert column(out, "message") == ["bob@example.com"]
    assert column(out, "contact") == ["[REDACTED:email]"]


def test_counters_add_up_across_threads() -> None:
    step = build({"type": "redact", "detectors": ["email"]})
    assert isinstance(step, Redact)
    batch = wide_from_records([{"message": f"u{i}@example.com and x{i}@example.org"} for i in range(500)])
    threads = [threading.Thread(target=step.process, args=(batch,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert step.redactions == {"email": 4000}


def test_luhn_and_card_prefixes() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert is_card_number("4111-1111-1111-1111")
    assert not is_card_number("1700000000000")  # epoch ms, no card network starts with 1
    assert not is_card_number("4111111111111112")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"action": "hash"}, "needs `hash_key`"),
        ({"actions": {"email": "hash"}}, "needs `hash_key`"),
        ({"detectors": ["email"], "actions": {"phone": "mask"}}, "not in `detectors`"),
        ({"detectors": ["ssn"]}, "Input should be"),
        ({"detectors": []}, "at least 1"),
    ],
)
def test_bad_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_config({"type": "redact", **settings})


def test_hash_key_is_secret_in_reprs() -> None:
    config = parse_config({"type": "redact", "action": "hash", "hash_key": "topsecret"})
    assert "topsecret" not in repr(config)


def test_text_holding_the_internal_marker_is_still_redacted_exactly() -> None:
    redacted, step = redact("a\x00b 4111 1111 1111 1111 and 4111 1111 1111 1112")
    assert redacted == "a\x00b [REDACTED:credit_card] and 4111 1111 1111 1112"
    assert step.redactions == {"credit_card": 1}


def test_repeated_matches_in_one_line_are_each_replaced_and_counted() -> None:
    redacted, step = redact("4111111111111111 4111111111111111 5555555555554444", detectors=["credit_card"])
    assert redacted == "[REDACTED:credit_card] [REDACTED:credit_card] [REDACTED:credit_card]"
    assert step.redactions == {"credit_card": 3}


def test_batches_with_many_candidates_take_the_vectorized_path_with_the_same_results() -> None:
    texts = [t for t, _, _ in FOUND] + CLEAN
    expected = [e for _, e, _ in FOUND] + CLEAN
    step = build({"type": "redact"})
    assert isinstance(step, Redact)
    out = step.process(wide_from_records([{"message": t} for t in texts * 3]))
    assert column(out, "message") == expected * 3
    few = build({"type": "redact"})
    assert isinstance(few, Redact)
    for t in texts:
        few.process(wide_from_records([{"message": t}] * 3))
    assert step.redactions == few.redactions


def test_vectorized_hash_and_drop_field() -> None:
    records = [
        {"message": f"user{i % 5}@example.com paid", "card": "4111 1111 1111 1111", "ok": "fine"} for i in range(40)
    ]
    step = build({"type": "redact", "action": "drop_field", "actions": {"email": "hash"}, "hash_key": "k"})
    assert isinstance(step, Redact)
    out = step.process(wide_from_records(records))
    messages = column(out, "message")
    assert len(set(messages)) == 5 and all(m.startswith("[email:") and m.endswith("] paid") for m in messages)
    assert messages[0] == messages[5]
    assert column(out, "card") == [None] * 40
    assert column(out, "ok") == ["fine"] * 40
    assert step.redactions == {"email": 40, "credit_card": 40}
    single, _ = redact("user0@example.com paid", action="hash", hash_key="k")
    assert single == messages[0]
