"""`logwarden demo` for real: the server starts on a temporary data dir, the history and live traffic are
stored, and the sample rules notify the printing receiver within a bounded time (the short schedule)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from click.testing import CliRunner

from logwarden.cli import main
from logwarden.demo.generator import DemoSchedule
from logwarden.demo.runner import DemoOptions, DemoRunner

pytestmark = pytest.mark.slow


def test_the_demo_starts_ingests_and_its_rules_fire() -> None:
    printed: list[str] = []
    options = DemoOptions(port=0, schedule=DemoSchedule.short(), history_minutes=2, open_browser=False)
    runner = DemoRunner(options, printed.append)
    stop = threading.Event()
    feeder = threading.Thread(target=runner.run, args=(stop,))
    try:
        runner.start()
        runner.announce()
        assert any(f"open {runner.url}/" in text for text in printed)
        feeder.start()
        deadline = time.monotonic() + 60  # the burst starts 3 s in; the last incident ends 35 s in
        wanted = {"error-burst", "brute-force-login", "new-exception-type", "silent-service"}
        while time.monotonic() < deadline and not all(runner.receiver.fired(rule) for rule in wanted):
            time.sleep(0.5)
        fired = {rule for rule in wanted if runner.receiver.fired(rule)}
        assert fired == wanted
        # Only the new exception fired the new-exception rule: the known ones were learned from the history.
        names = {
            a["labels"].get("exception")
            for a in runner.receiver.alerts
            if a["labels"]["alertname"] == "new-exception-type"
        }
        assert names == {"LedgerConsistencyError"}
        assert any("FIRING" in text and "error-burst" in text for text in printed)
        # The console and the Overview's data are there.
        assert httpx.get(runner.url + "/dashboards", headers={"Accept": "text/html"}).status_code == 200
        count = httpx.get(runner.url + "/api/v1/stats/count", params={"start": "now-10m"}).json()["total"]
        assert count >= runner.lines_sent > 0
    finally:
        stop.set()
        if feeder.is_alive():
            feeder.join()
        runner.close()
    assert not runner.directory.exists()


def test_the_command_is_listed_with_its_options() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--schedule", "--no-browser", "--keep", "--duration"):
        assert option in result.output
