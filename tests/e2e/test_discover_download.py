"""Discover's Download in headless Chromium: the saved file is the server's export of the current query."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from tests.conftest import ServerProcess
from tests.e2e.conftest import ConsolePage

pytestmark = pytest.mark.slow


def _download(page: Any, fmt: str) -> tuple[str, str]:
    """Open the Download menu, pick `fmt`, and return (suggested file name, file text)."""
    page.locator(".download summary").click()
    with page.expect_download() as info:
        page.locator(".download-menu button", has_text=fmt).click()
    download = info.value
    path = download.path()
    assert path is not None, download.failure()
    return download.suggested_filename, Path(path).read_text()


def test_download_saves_the_server_export_of_the_query(console: ConsolePage, console_server: ServerProcess) -> None:
    q = 'level:error | where region = "eu"'
    page = console.open(urlencode({"q": q, "start": "now-1h", "cols": "region"}))
    page.wait_for_function("() => document.querySelector('.result-status')?.textContent.includes(' ms')")
    name, text = _download(page, "NDJSON")
    assert name.startswith("logwarden-") and name.endswith(".ndjson")
    lines = [orjson.loads(x) for x in text.splitlines()]
    served = httpx.get(f"{console_server.url}/api/v1/export", params={"q": q, "start": "now-1h"}, timeout=30)
    assert served.status_code == 200 and lines == [orjson.loads(x) for x in served.text.splitlines()]
    assert lines and all(h["level"] == "ERROR" and h["attrs"]["region"] == "eu" for h in lines)

    name, text = _download(page, "CSV")
    assert name.endswith(".csv")
    assert text.splitlines()[0] == '"ts","level","service","host","message","region"'
    assert len(text.splitlines()) == len(lines) + 1


def test_download_of_a_stats_query_is_its_table(console: ConsolePage) -> None:
    page = console.open("q=" + "| stats count() by service".replace(" ", "+") + "&start=now-1h")
    page.locator(".stats-table").wait_for()
    _, text = _download(page, "CSV")
    rows = text.splitlines()
    assert rows[0].startswith('"service",')
    assert {r.split(",")[0].strip('"') for r in rows[1:]} >= {"checkout", "payment", "search"}
