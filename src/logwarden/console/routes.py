"""Console routes: the pages (one shell, a client-side router picks the page) and the static assets."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from logwarden.auth.principal import Principal, principal_of
from logwarden.auth.roles import ROLE_PERMISSIONS, Permission
from logwarden.config.model import Config
from logwarden.console.headers import SECURITY_HEADERS, SecurityHeaders
from logwarden.console.shell import STATIC_PREFIX, boot_data, render_shell
from logwarden.ingest.http import es_probes

STATIC_DIR = Path(__file__).parent / "static"
# Path → page name. `/` is Discover; later pages (alerts, rules, silences, dashboards) are added here and in
# static/js/pages.js.
PAGES: dict[str, str] = {
    "/": "discover",
    "/dashboards": "dashboards",
    "/alerts": "alerts",
    "/rules": "rules",
    "/silences": "silences",
    "/receivers": "receivers",
    "/patterns": "patterns",
    "/login": "login",
    "/admin/users": "admin-users",
    "/admin/keys": "admin-keys",
    "/admin/audit": "admin-audit",
}
_VARY = "Accept, User-Agent, X-Elastic-Client-Meta"


async def page(request: Request) -> Response:
    """The shell of a console page; `GET /` answers Elasticsearch clients with the cluster info instead."""
    if request.url.path == "/" and es_probes.wants_elasticsearch(request):
        response = await es_probes.info(request)
        response.headers["Vary"] = _VARY  # one URL, two answers: caches must tell them apart
        return response
    config = request.app.state.runtime.config  # the app's Runtime (not imported: api depends on console)
    assert isinstance(config, Config)
    name = PAGES[request.url.path]
    principal = principal_of(request)
    user = principal is not None and principal.kind in ("user", "local")
    if name == "login" and (user or not config.auth.enabled):
        # Nothing to log in to (auth off), or logged in already: straight to where the login would lead.
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    if name != "login" and config.auth.enabled and (principal is None or not principal.can(Permission.SEARCH)):
        # No session, or a credential that cannot read (an ingest key or client certificate): a user must log in.
        return RedirectResponse(login_url(request), status_code=303)
    boot = boot_data(
        host=config.http.host,
        port=config.http.port,
        default_tenant=config.ingest.default_tenant,
        auth_enabled=config.auth.enabled,
        principal=principal_view(principal),
    )
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Vary": _VARY}
    return HTMLResponse(render_shell(name, boot), headers=headers)


def safe_next(value: str | None) -> str:
    """Where to go after a login: a path on this server only (`/x?y`), never another site (`//evil`, `https:`)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/login")):
        return "/"
    if "\\" in value or any(c <= " " or c == "\x7f" for c in value):
        return "/"  # browsers drop tabs and newlines and read "\\" as "/": "/\t/evil" would be "//evil"
    return value


def login_url(request: Request) -> str:
    """`/login?next=<this page, with its query>`."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?" + urlencode({"next": here}) if here != "/" else "/login"


def principal_view(principal: Principal | None) -> dict[str, Any] | None:
    """The caller as the console shows it: name, kind, tenant, role and the role's permissions."""
    if principal is None:
        return None
    return {
        "name": principal.name,
        "kind": principal.kind,
        "tenant": principal.tenant,
        "role": principal.role.value,
        "permissions": sorted(p.value for p in ROLE_PERMISSIONS[principal.role]),
    }


def routes() -> list[BaseRoute]:
    """The console's routes, to mount before the Elasticsearch emulation's catch-alls."""
    static = SecurityHeaders(StaticFiles(directory=STATIC_DIR))
    return [
        *(Route(path, page, methods=["GET", "HEAD"]) for path in PAGES),
        Mount(STATIC_PREFIX, app=static, name="console-static"),
    ]


__all__ = ["PAGES", "STATIC_DIR", "STATIC_PREFIX", "login_url", "principal_view", "routes", "safe_next"]
