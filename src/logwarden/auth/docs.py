"""The permission tables of docs/security.md, rendered from the code (a test keeps the page in step).

Run `python -m logwarden.auth.docs` to print them.
"""

from __future__ import annotations

from collections.abc import Mapping

from logwarden.auth.permissions import AUTHENTICATED, ES_PATHS, PUBLIC, ROUTE_NEEDS, Need
from logwarden.auth.roles import ROLE_PERMISSIONS, Permission, Role

_METHODS = ("GET", "POST", "PUT", "DELETE")


def role_table() -> str:
    """Markdown: permissions × roles."""
    roles = list(Role)
    lines = ["| permission | " + " | ".join(r.value for r in roles) + " |", "|---|" + "---|" * len(roles)]
    for permission in Permission:
        marks = " | ".join("✓" if permission in ROLE_PERMISSIONS[r] else "" for r in roles)
        lines.append(f"| `{permission.value}` | {marks} |")
    return "\n".join(lines)


def _shown(need: Need) -> str:
    if need == PUBLIC:
        return "none (open)"
    if need == AUTHENTICATED:
        return "any credential"
    return f"`{need}`"


def route_table() -> str:
    """Markdown: what each route needs (the Elasticsearch emulation's routes folded into one line)."""
    rows: list[str] = []
    es = {*ES_PATHS, *(f"/es{p}" for p in ES_PATHS)}
    for path, spec in ROUTE_NEEDS.items():
        if path in es:
            continue
        if isinstance(spec, Mapping):
            parts = [f"{m} {_shown(spec[m])}" for m in _METHODS if m in spec]
            rows.append(f"| `{path}` | {', '.join(parts)} |")
        else:
            rows.append(f"| `{path}` | {_shown(spec)} |")
    rows.append("| `/metrics` | none (open); `audit.read` with `auth.metrics_public: false` |")
    rows.append("| Elasticsearch emulation (`/_bulk`, `/{index}`, `/_index_template`, … and under `/es`) | `ingest` |")
    return "\n".join(["| route | needs |", "|---|---|", *rows])


if __name__ == "__main__":
    print(role_table())
    print()
    print(route_table())
