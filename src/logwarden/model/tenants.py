"""The one tenant-name rule: which names are valid, and the error that says so.

`TENANT_PATTERN` (in `model.schema`, beside the column it constrains) stays the single source of the rule;
vectorized code matches whole columns against it, everything that checks one name calls `check_tenant`.
"""

from __future__ import annotations

import re

from logwarden.model.schema import TENANT_PATTERN

_TENANT_RE = re.compile(TENANT_PATTERN)

TENANT_RULE = "tenant names are 1-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit"


def is_tenant(name: str) -> bool:
    """True when `name` is a valid tenant name."""
    return _TENANT_RE.fullmatch(name) is not None  # fullmatch: `$` alone would let "name\n" through


def check_tenant(name: str) -> str:
    """`name` when it is a valid tenant name; ValueError naming it and the rule otherwise."""
    if not is_tenant(name):
        raise ValueError(f"invalid tenant name {name!r}: {TENANT_RULE}")
    return name


def check_optional_tenant(name: str | None) -> str | None:
    """`check_tenant` for settings where unset (None) means "the default tenant"."""
    return None if name is None else check_tenant(name)
