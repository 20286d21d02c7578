"""Checks on the field names transforms write or remove, shared by their config validators."""

from __future__ import annotations

from logwarden.pipeline import fields


def check_writable(name: str) -> str:
    """Raise ValueError for a field a pipeline may not set (observed_ts, severity)."""
    if not name.strip():
        raise ValueError("a field name cannot be empty")
    if fields.column_of(name) in fields.READ_ONLY:
        raise ValueError(f"field {name!r} is set by logwarden and cannot be changed")
    return name


def check_removable(name: str) -> str:
    """Raise ValueError for a field that can never be absent (ts, tenant, source, log_id…)."""
    check_writable(name)
    if fields.column_of(name) in fields.REQUIRED:
        raise ValueError(f"field {name!r} is required on every line and cannot be removed or renamed")
    return name
