"""Console routes: the pages (one shell, a client-side router picks the page) and the static assets."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

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
    boot = boot_data(
        host=config.http.host,
        port=config.http.port,
        default_tenant=config.ingest.default_tenant,
        auth_enabled=config.auth.enabled,
    )
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Vary": _VARY}
    return HTMLResponse(render_shell(PAGES[request.url.path], boot), headers=headers)


def routes() -> list[BaseRoute]:
    """The console's routes, to mount before the Elasticsearch emulation's catch-alls."""
    static = SecurityHeaders(StaticFiles(directory=STATIC_DIR))
    return [
        *(Route(path, page, methods=["GET", "HEAD"]) for path in PAGES),
        Mount(STATIC_PREFIX, app=static, name="console-static"),
    ]


__all__ = ["PAGES", "STATIC_DIR", "STATIC_PREFIX", "routes"]
