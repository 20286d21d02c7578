"""Live mode under load: 2,000 lines/s for 3 s into an open Discover page. The table keeps its 5,000-row bound,
every line is counted, and the page keeps drawing frames (figures printed; thresholds loose on shared CI)."""

from __future__ import annotations

import itertools
import statistics
import threading
import time

import pytest

from tests.conftest import ServerProcess
from tests.e2e.conftest import ConsolePage
from tests.e2e.data import ingest, iso, now

pytestmark = pytest.mark.slow

RATE = 2000  # lines per second
SECONDS = 3
BATCH = 200

_RECORD_FRAMES = """() => {
  window.__frames = [];
  const tick = (t) => { window.__frames.push(t); if (window.__frames.length < 100000) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""


def _send(url: str, errors: list[BaseException]) -> None:
    try:
        interval = BATCH / RATE
        began = time.monotonic()
        for n in range(RATE * SECONDS // BATCH):
            stamp = iso(now())
            lines = [
                {"ts": stamp, "service": "loadgen", "level": "info", "message": f"burst line {n}-{i} loadmark"}
                for i in range(BATCH)
            ]
            ingest(url, lines)
            time.sleep(max(0.0, began + (n + 1) * interval - time.monotonic()))
    except BaseException as exc:  # reported by the test thread
        errors.append(exc)


def test_live_mode_stays_bounded_and_drawing_at_2k_lines_per_second(
    console: ConsolePage, console_server: ServerProcess
) -> None:
    page = console.open("q=loadmark&start=now-1h&live=1")
    page.wait_for_function("() => document.querySelector('.result-status')?.textContent.startsWith('Live: new')")
    page.evaluate(_RECORD_FRAMES)
    errors: list[BaseException] = []
    sender = threading.Thread(target=_send, args=(console_server.url, errors))
    began = time.monotonic()
    sender.start()
    sender.join(60)
    sent_seconds = time.monotonic() - began
    assert not errors, errors
    total = RATE * SECONDS
    page.wait_for_function(
        f"() => Number(document.querySelector('.live-count')?.textContent.replace(/\\D/g, '')) >= {total}",
        timeout=30_000,
    )
    rows = page.locator(".hits .hit").count()
    assert rows == 5000  # the bound: the oldest rows went
    assert "burst line" in page.locator(".hits .hit").first.inner_text()
    frames = page.evaluate("() => window.__frames")
    batches = page.evaluate(
        "() => performance.getEntriesByName('lw-live-batch').map((e) => [e.startTime, e.duration, e.detail])"
    )
    gaps = [b - a for a, b in itertools.pairwise(frames)]
    fps = len(frames) / ((frames[-1] - frames[0]) / 1000)
    draw_ms = sorted(b[1] for b in batches)  # the page's own work per drawn batch (performance.measure)
    print(
        f"live load: {total} lines in {sent_seconds:.2f}s, {fps:.0f} frames/s, "
        f"median frame {statistics.median(gaps):.1f} ms, p95 {sorted(gaps)[int(len(gaps) * 0.95)]:.1f} ms, "
        f"max {max(gaps):.0f} ms; {len(draw_ms)} batches drawn, median {statistics.median(draw_ms):.1f} ms, "
        f"max {draw_ms[-1]:.1f} ms (2 shared cores: noisy)"
    )
    assert statistics.median(gaps) < 250  # still drawing: loose, CI machines are shared
    assert len(batches) >= 2 and sum(b[2] for b in batches) == total  # every line drawn, in frame-sized batches
    console.shot("discover-live-load-light")
