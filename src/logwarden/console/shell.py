"""The HTML shell every console page starts from: the top bar, the banner and the boot data for the modules."""

from __future__ import annotations

import html
from typing import Any

import orjson

from logwarden import __version__
from logwarden.auth.exposure import is_loopback
from logwarden.query.ast import QUERY_CORE
from logwarden.query.parser import PIPE_NAMES

STATIC_PREFIX = "/console/static"


def boot_data(
    *, host: str, port: int, default_tenant: str, auth_enabled: bool, principal: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the modules read before their first request: language words, the version, the exposure, the caller.

    `exposed`: reachable from other machines with authentication off. The server refuses to start so
    (auth/exposure.py); the banner is the console's own guard should an embedding skip that check.
    `principal`: who is calling (`console.routes.principal_view`), None on the login page."""
    return {
        "version": __version__,
        "pipes": list(PIPE_NAMES),
        "core_fields": sorted(QUERY_CORE),
        "auth": auth_enabled,
        "exposed": not auth_enabled and not is_loopback(host),
        "bind": f"{host}:{port}",
        "default_tenant": default_tenant,
        "principal": principal,
    }


def _user_area(boot: dict[str, Any]) -> str:
    """The top bar's caller: "local admin" with auth off; the user, role and tenant and a logout button with it on."""
    who = boot.get("principal")
    if who is None:
        return ""
    if who["kind"] == "local":
        title = "auth.enabled is off: every request acts as the local admin"
        return f'<span class="user-chip" id="user-chip" title="{title}">local admin</span>'
    label = f"{who['name']} · {who['role']} · {who['tenant']}"
    logout = (
        '<button type="button" id="logout-button" class="logout-button">Log out</button>'
        if who["kind"] == "user"
        else ""
    )
    return f'<span class="user-chip" id="user-chip">{html.escape(label)}</span>{logout}'


def render_shell(page: str, boot: dict[str, Any]) -> str:
    """The page's HTML: static markup, the boot JSON as an inert data block, and the entry module."""
    # "</" cannot end the data block early once escaped; JSON readers read "<\/" as "</".
    data = orjson.dumps(boot).decode().replace("</", "<\\/")
    banner = ""
    if boot["exposed"]:
        banner = (
            '<div class="banner" role="alert" id="exposed-banner">This server listens on '
            f"{html.escape(boot['bind'])} with <strong>no authentication yet</strong>: anyone who can reach it "
            "can read and write every tenant's logs. Bind 127.0.0.1 or set auth.enabled: true "
            "(docs/security.md).</div>"
        )
    badge = (
        ""
        if boot["auth"]
        else '<span class="badge" title="auth.enabled is off: loopback only">no login · local only</span>'
    )
    # Per-role views: console.css hides what `data-can` lacks (the server refuses it anyway).
    can = " ".join((boot.get("principal") or {}).get("permissions", []))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>logwarden</title>
<link rel="icon" href="{STATIC_PREFIX}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{STATIC_PREFIX}/vendor/uplot/uPlot.min.css">
<link rel="stylesheet" href="{STATIC_PREFIX}/console.css">
<script type="module" src="{STATIC_PREFIX}/js/app.js"></script>
</head>
<body data-page="{html.escape(page)}" data-can="{html.escape(can)}">
<header class="topbar">
  <a class="brand" href="/" title="logwarden {html.escape(__version__)}">logwarden</a>
  <nav id="nav" aria-label="pages"></nav>
  <div class="topbar-spacer"></div>
  {badge}
  {_user_area(boot)}
  <button type="button" id="theme-toggle" class="icon-button" title="Switch light / dark theme"
    aria-label="Switch light or dark theme">◐</button>
</header>
{banner}
<main id="page" aria-live="polite"><noscript>The logwarden console needs JavaScript.</noscript></main>
<script type="application/json" id="lw-boot">{data}</script>
</body>
</html>
"""
