"""Steps the dashboards tests share: reading the address, waiting for the panels, creating a dashboard and reading
back what was saved."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from tests.e2e.conftest import ConsolePage


def url_params(page: Any) -> dict[str, str]:
    """The page address's query parameters (first value of each)."""
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def wait_drawn(page: Any) -> None:
    """Every panel has answered (drawn or shown its error)."""
    page.wait_for_function(
        "() => { const p = [...document.querySelectorAll('.panel')];"
        " return p.length > 0 && p.every((el) => el.dataset.loaded); }"
    )


def new_dashboard(console: ConsolePage, name: str) -> str:
    """Create an empty dashboard from the Dashboards page as a user does; its id (from the address)."""
    page = console.page
    page.goto(console.base_url + "/dashboards?start=now-1h")
    wait_drawn(page)
    page.locator(".db-new").click()
    page.locator(".nf-name").fill(name)
    page.locator(".nf-create").click()
    page.wait_for_selector(".db-empty")
    dashboard_id = url_params(page)["d"]
    assert dashboard_id != "overview"
    return dashboard_id


def saved_panels(console: ConsolePage, dashboard_id: str) -> list[dict[str, Any]]:
    """The panels the server holds for the dashboard."""
    resp = httpx.get(f"{console.base_url}/api/v1/dashboards/{dashboard_id}", timeout=10)
    assert resp.status_code == 200, resp.text
    panels: list[dict[str, Any]] = resp.json()["panels"]
    return panels
