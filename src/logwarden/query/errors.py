"""The error a malformed query raises: what was wrong, and where (1-based column).

Defined in `logwarden.plan.errors` so a backend compiler can raise it too; re-exported here.
"""

from __future__ import annotations

from logwarden.plan.errors import QuerySyntaxError

__all__ = ["QuerySyntaxError"]
