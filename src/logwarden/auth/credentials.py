"""Credentials as strings: argon2id password hashes, API keys `lw_<prefix>_<secret>`, session and CSRF tokens.

Passwords are hashed with argon2id (slow on purpose: people choose guessable passwords). Keys and tokens are
32 random bytes, so one SHA-256 of them is enough to make a stolen table useless, and cheap to check per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

KEY_PREFIX = "lw_"
_PREFIX_BYTES = 6  # 12 hex characters: the key's public id, shown in listings and logs
_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" parameters
# A hash to verify against when the user does not exist: same cost, so timing does not reveal user names.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash of `password` (with its salt and parameters)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; a missing user (None) costs the same time and never matches."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def digest(secret: str) -> str:
    """SHA-256 hex digest of a high-entropy secret (key secret, session or CSRF token)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(secret: str, expected_digest: str) -> bool:
    """Whether `secret` hashes to `expected_digest`, in constant time."""
    return hmac.compare_digest(digest(secret), expected_digest)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made API key: the full text (shown once) and what is stored."""

    text: str
    prefix: str
    secret_hash: str


def new_api_key() -> NewKey:
    """A new random key `lw_<12 hex>_<43 url-safe characters>`."""
    prefix = secrets.token_hex(_PREFIX_BYTES)
    secret = secrets.token_urlsafe(32)
    return NewKey(f"{KEY_PREFIX}{prefix}_{secret}", prefix, digest(secret))


def split_api_key(text: str) -> tuple[str, str] | None:
    """(prefix, secret) of a key's text, or None when it does not have the shape of a logwarden key."""
    if not text.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = text[len(KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 2 * _PREFIX_BYTES or not secret:
        return None
    return prefix, secret


def new_token() -> str:
    """A random session or CSRF token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)
