"""The PII detectors of `redact`: RE2-compatible patterns (also valid Python `re`) and exact validators.

Every pattern has two groups: a prefix that is kept (a key such as `password=`, or the character before
a phone number standing in for a look-behind RE2 lacks) and the secret that is replaced. Detectors with
a validator (Luhn for cards, address parsing for IPs, digit counts for phones) find candidates with the
pattern and confirm them in Python, only on the rows that have candidates.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

_SECRET_KEYS = (
    r"password|passwd|pwd|passphrase|secret|client_secret|secret_key|token|access_token|refresh_token|"
    r"auth_token|api_key|apikey|api-key|private_key|credentials"
)
_HEX4 = r"[0-9A-Fa-f]{1,4}"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"


@dataclass(frozen=True, slots=True)
class Detector:
    """A kind of PII: patterns `(kept prefix)(secret)` and an optional check of a candidate secret."""

    name: str
    patterns: tuple[str, ...]
    validate: Callable[[str], bool] | None = None


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_ANY = range(13, 20)
# (first prefix, last prefix, lengths) of the card networks (prefixes of equal digit counts).
_CARD_RANGES = (
    (4, 4, (13, 16, 19)),  # Visa
    (51, 55, (16,)),  # Mastercard
    (2221, 2720, (16,)),  # Mastercard 2-series
    (34, 34, (15,)),  # American Express
    (37, 37, (15,)),
    (6011, 6011, _ANY),  # Discover
    (644, 649, _ANY),
    (65, 65, _ANY),
    (300, 305, _ANY),  # Diners Club
    (36, 36, _ANY),
    (38, 39, _ANY),
    (3528, 3589, _ANY),  # JCB
    (62, 62, _ANY),  # UnionPay
    (50, 50, _ANY),  # Maestro
    (56, 58, _ANY),
)


def is_card_number(text: str) -> bool:
    """13–19 digits (spaces/dashes ignored) with a card network's prefix and length, passing Luhn.

    The prefix rule keeps Luhn-valid order ids, epoch milliseconds and compact timestamps from matching.
    """
    digits = text.replace(" ", "").replace("-", "")
    n = len(digits)
    if not (13 <= n <= 19 and digits.isdigit()):
        return False
    known = any(n in lengths and lo <= int(digits[: len(str(lo))]) <= hi for lo, hi, lengths in _CARD_RANGES)
    return known and luhn_ok(digits)


def is_phone_number(text: str) -> bool:
    """8 to 15 digits (E.164 allows at most 15)."""
    count = sum(ch.isdigit() for ch in text)
    return 8 <= count <= 15


def is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


DETECTORS: dict[str, Detector] = {
    # Keyed secrets first: `token=eyJ…` is then one password, not a JWT inside a password.
    "password": Detector(
        "password",
        (
            rf"""((?i:{_SECRET_KEYS})["']?\s*[:=]\s*")([^"\[][^"]*)""",
            rf"""((?i:{_SECRET_KEYS})["']?\s*[:=]\s*)([^\s"',;&}}\[\]][^\s"',;&}}\]]*)""",
        ),
    ),
    "jwt": Detector("jwt", (r"()(eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,})",)),
    "bearer": Detector("bearer", (r"(\b(?i:bearer)\s+)([A-Za-z0-9\-._~+/]{16,}=*)",)),
    "aws_key": Detector(
        "aws_key",
        (
            r"()(\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z0-9]{16}\b)",
            r"""((?i:aws_?secret_?access_?key)["']?\s*[:=]\s*["']?)([A-Za-z0-9/+=]{40})""",
        ),
    ),
    "email": Detector("email", (r"()([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})",)),
    "credit_card": Detector("credit_card", (r"()(\b(?:\d[ -]?){12,18}\d\b)",), is_card_number),
    "phone": Detector(
        "phone",
        (
            r"(^|[^\w+])(\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{1,4}){1,4}\b"
            r"|\(\d{3}\)\s?\d{3}[.-]\d{4}\b|\d{3}[.-]\d{3}[.-]\d{4}\b)",
        ),
        is_phone_number,
    ),
    # IPv6 first: an IPv4-mapped address (::ffff:192.0.2.1) is one IPv6 address.
    "ipv6": Detector(
        "ipv6",
        (
            rf"(^|[^\w:.])((?:{_HEX4}:){{7}}{_HEX4}"
            rf"|(?:{_HEX4}:)*(?:{_HEX4})?::(?:{_HEX4}:)*(?:\d{{1,3}}(?:\.\d{{1,3}}){{3}}|{_HEX4})?)",
        ),
        is_ipv6,
    ),
    "ipv4": Detector("ipv4", (rf"()(\b(?:{_OCTET}\.){{3}}{_OCTET}\b)",)),
}
DETECTOR_NAMES = tuple(DETECTORS)
DEFAULT_DETECTORS = tuple(n for n in DETECTOR_NAMES if n not in ("ipv4", "ipv6"))


def compiled(pattern: str) -> re.Pattern[str]:
    """The Python form of a pattern (for the rows that need validation or hashing)."""
    return re.compile(pattern)
