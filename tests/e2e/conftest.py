"""A real `logwarden serve` with generated lines, and headless Debian Chromium driven by Playwright.

The browser tests skip (with the reason) only when /usr/bin/chromium is missing; Playwright's own browser
downloads are never used.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from tests.conftest import ServerProcess, make_config
from tests.e2e.data import generated_lines, ingest, now

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module with ~300 lines over the last 50 minutes (stamped from now)."""
    proc = ServerProcess(Path(tmp_path_factory.mktemp("console")) / "data")
    try:
        proc.wait_ready()
        ingest(proc.url, generated_lines(now()))
        yield proc
    finally:
        proc.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


class ConsolePage:
    """A page of the console with the errors it logged (CSP violations and uncaught exceptions show there)."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, query: str = "") -> Any:
        self.page.goto(self.base_url + "/" + (f"?{query}" if query else ""))
        return self.page

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture(params=["light"])
def console(request: pytest.FixtureRequest, browser: Any, console_server: ServerProcess) -> Iterator[ConsolePage]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme=request.param)
    page = ConsolePage(context.new_page(), console_server.url)
    try:
        yield page
        # Failed API calls a test provokes on purpose (a 400) are logged by the browser as "Failed to load".
        assert [e for e in page.errors if "status of 400" not in e] == []
    finally:
        context.close()


# --- authentication on (tests/e2e/test_login*.py, test_admin*.py) --------------------------------------------

AUTH_PASSWORD = "correct horse battery"
AUTH_TENANT = "acme"


@dataclass
class AuthConsoleServer:
    """A real server with `auth.enabled`: users ana (admin) and vic (viewer) of tenant acme (password
    `AUTH_PASSWORD`), and an ingest key that stored the generated lines."""

    proc: ServerProcess
    ingest_key: str

    @property
    def url(self) -> str:
        return self.proc.url


def _cli(data_dir: Path, *args: str, stdin: str = "") -> str:
    """`logwarden <args> --data-dir <data_dir>` (the metadata database directly, as an operator would)."""
    done = subprocess.run(
        [sys.executable, "-m", "logwarden", *args, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def auth_console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthConsoleServer]:
    """One auth-enabled server for the module (3 failed logins in a row start the backoff)."""
    data_dir = Path(tmp_path_factory.mktemp("auth-console")) / "data"
    data_dir.mkdir(parents=True)
    for name, role in (("ana", "admin"), ("vic", "viewer")):
        _cli(
            data_dir,
            "users",
            "add",
            name,
            "--role",
            role,
            "--tenant",
            AUTH_TENANT,
            "--password-stdin",
            stdin=AUTH_PASSWORD + "\n",
        )
    key = _cli(data_dir, "keys", "create", "--tenant", AUTH_TENANT, "--role", "ingest", "--name", "e2e").splitlines()[
        -1
    ]
    env = {"LOGWARDEN_AUTH__ENABLED": "true", "LOGWARDEN_AUTH__LOGIN_MAX_FAILURES": "3"}
    proc = ServerProcess(data_dir, env=env)
    try:
        proc.wait_ready()
        body = b"\n".join(orjson.dumps(line) for line in generated_lines(now()))
        resp = httpx.post(
            proc.url + "/api/v1/ingest",
            content=body,
            headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        yield AuthConsoleServer(proc, key)
    finally:
        proc.close()


@pytest.fixture
def auth_client(tmp_path: Path) -> Iterator[TestClient]:
    """In-process app with authentication on (redirects not followed); users ana (admin) and vic (viewer) of acme."""
    from logwarden.api.app import create_app
    from logwarden.api.runtime import runtime_of
    from logwarden.auth.roles import Role
    from logwarden.auth.store import AuthStore

    config = make_config(tmp_path, **{"auth.enabled": True, "auth.credential_cache": "0s"})
    with TestClient(create_app(config, run_maintenance=False), follow_redirects=False) as client:
        meta = runtime_of(client).meta
        assert meta is not None
        store = AuthStore(meta.engine)
        store.add_user("ana", AUTH_PASSWORD, tenant=AUTH_TENANT, role=Role.ADMIN)
        store.add_user("vic", AUTH_PASSWORD, tenant=AUTH_TENANT, role=Role.VIEWER)
        yield client
