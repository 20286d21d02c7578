#!/usr/bin/env python3
"""Console benchmark: Discover's time from navigation to first results over N stored lines, and live mode's
frame rate while 2,000 lines/s stream in. Headless Debian Chromium (/usr/bin/chromium) driven by Playwright.

    python bench/ui.py [--lines 10000000] [--runs 5] [--rate 2000] [--seconds 5] [--data-dir DIR] [--reload]

Steps: the data dir of bench/query.py's generator (`--lines` over `--hours`, cached by its parameters under
/tmp/logwarden-bench-ui, so a rerun skips loading), a real `logwarden serve` on it, then

1. **First results**: `--runs` navigations, each in a fresh browser context, to Discover over the whole data
   (`/?start=…&end=…`, absolute bounds of the data) and over its last hour; the page's own
   `lw-first-results` performance mark (set after the frame that paints the first hits) is the time from
   navigation start; `lw-search-sent` (the search request leaving the page) splits it into the page's own
   start-up and the search.
   Baseline in the same run: the API request the page makes (`POST /api/v1/query`, limit 200) timed from
   Python — the ratio page/API is the console's own cost.
2. **Live**: Discover in live mode on a query matching only the streamed lines; `--rate` lines/s for
   `--seconds` sent in 200-line requests; frames are counted with requestAnimationFrame, first for 2 s idle
   (baseline) then under load; the page's `lw-live-batch` measures are its work per drawn batch.

Progress goes to stderr; the LAST stdout line is one JSON object. Target (issue 14): first results ≤ 1.0 s
with 10M lines. Timings on shared machines are noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import Server, log
from query_data import load_dataset

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
RESULT_LIMIT = 200  # what Discover asks for (static/js/discover/first.js)
BATCH = 200
LIVE_MARK = "uiloadmark"

_RECORD_FRAMES = """() => {
  window.__frames = [];
  const tick = (t) => { window.__frames.push(t); if (window.__frames.length < 200000) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _post(port: int, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def api_ms(port: int, start: str, end: str, runs: int) -> list[float]:
    """The search Discover sends, timed from here (server time plus loopback)."""
    body = json.dumps({"q": "", "start": start, "end": end, "limit": RESULT_LIMIT}).encode()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        status, text = _post(port, "/api/v1/query", body, "application/json")
        times.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise RuntimeError(f"query failed: {status} {text[:300]!r}")
    return times


def first_results(browser: Any, base: str, query: str, runs: int) -> dict[str, Any]:
    """Navigation → `lw-first-results`, in ms, over `runs` fresh contexts (plus one warm-up)."""
    times: list[float] = []
    sent_times: list[float] = []  # navigation → the search request sent (the page's own start-up)
    status = ""
    modules = 0
    for n in range(runs + 1):
        context = browser.new_context(viewport=VIEWPORT)
        try:
            page = context.new_page()
            page.goto(f"{base}/?{query}")
            page.wait_for_function("() => performance.getEntriesByName('lw-first-results').length", timeout=120_000)
            ms, sent, modules = page.evaluate(
                "() => [performance.getEntriesByName('lw-first-results')[0].startTime,"
                " performance.getEntriesByName('lw-search-sent')[0]?.startTime ?? null,"
                " performance.getEntriesByType('resource').filter((r) => r.name.endsWith('.js')).length]"
            )
            status = page.locator(".result-status").inner_text()
            if n:  # the first run warms the server's caches and the browser's module cache
                times.append(ms)
                if sent is not None:
                    sent_times.append(sent)
        finally:
            context.close()
    return {
        "runs_ms": [round(t, 1) for t in times],
        "median_ms": round(statistics.median(times), 1),
        "search_sent_median_ms": round(statistics.median(sent_times), 1) if sent_times else None,
        "js_modules": modules,
        "status": status,
    }


def _send_live(port: int, rate: int, seconds: float, errors: list[BaseException]) -> None:
    try:
        interval = BATCH / rate
        began = time.monotonic()
        for n in range(int(rate * seconds) // BATCH):
            stamp = iso(datetime.now(UTC))
            lines = (
                json.dumps({"ts": stamp, "service": "uiload", "level": "info", "message": f"line {n}-{i} {LIVE_MARK}"})
                for i in range(BATCH)
            )
            status, text = _post(port, "/api/v1/ingest", "\n".join(lines).encode(), "application/x-ndjson")
            if status != 200:
                raise RuntimeError(f"ingest failed: {status} {text[:200]!r}")
            time.sleep(max(0.0, began + (n + 1) * interval - time.monotonic()))
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)


def _frame_stats(frames: list[float]) -> dict[str, float]:
    gaps = sorted(b - a for a, b in itertools.pairwise(frames))
    if not gaps:
        return {"fps": 0.0, "median_frame_ms": float("nan"), "p95_frame_ms": float("nan"), "max_frame_ms": float("nan")}
    return {
        "fps": round(len(gaps) / ((frames[-1] - frames[0]) / 1000), 1),
        "median_frame_ms": round(statistics.median(gaps), 1),
        "p95_frame_ms": round(gaps[int(len(gaps) * 0.95)], 1),
        "max_frame_ms": round(gaps[-1], 1),
    }


def live(browser: Any, base: str, port: int, rate: int, seconds: float) -> dict[str, Any]:
    """Live mode's frame rate idle (baseline) and while `rate` lines/s stream in."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(f"{base}/?q={LIVE_MARK}&start=now-5m&live=1")
        page.wait_for_function("() => document.querySelector('.result-status')?.textContent.startsWith('Live: new')")
        page.evaluate(_RECORD_FRAMES)
        page.wait_for_timeout(2000)
        idle = _frame_stats(page.evaluate("() => window.__frames.splice(0)"))
        errors: list[BaseException] = []
        sender = threading.Thread(target=_send_live, args=(port, rate, seconds, errors))
        began = time.monotonic()
        sender.start()
        sender.join(seconds * 10 + 60)
        sent_s = time.monotonic() - began
        if errors:
            raise errors[0]
        total = int(rate * seconds) // BATCH * BATCH
        page.wait_for_function(
            f"() => Number(document.querySelector('.live-count')?.textContent.replace(/\\D/g, '')) >= {total}",
            timeout=60_000,
        )
        loaded = _frame_stats(page.evaluate("() => window.__frames"))
        batches = page.evaluate(
            "() => performance.getEntriesByName('lw-live-batch').map((e) => [e.duration, e.detail])"
        )
        draw = sorted(b[0] for b in batches)
        return {
            "rate_lines_per_s": rate,
            "lines": total,
            "sent_s": round(sent_s, 2),
            "idle": idle,
            "load": loaded,
            "fps_ratio_load_to_idle": round(loaded["fps"] / idle["fps"], 3) if idle["fps"] else None,
            "batches_drawn": len(draw),
            "lines_drawn": sum(b[1] for b in batches),
            "batch_draw_median_ms": round(statistics.median(draw), 2) if draw else None,
            "batch_draw_max_ms": round(draw[-1], 2) if draw else None,
            "rows_kept": page.locator(".hits .hit").count(),
        }
    finally:
        context.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--hours", type=float, default=25.0, help="time span of the data, ending at load time")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=5, help="timed navigations per range after one warm-up")
    ap.add_argument("--rate", type=int, default=2000, help="live lines per second")
    ap.add_argument("--seconds", type=float, default=5.0, help="how long live lines are sent")
    ap.add_argument("--data-dir", default="/tmp/logwarden-bench-ui", help="parent of the cached data dirs")
    ap.add_argument("--reload", action="store_true", help="regenerate the data even when cached")
    args = ap.parse_args()
    if not CHROMIUM.exists():
        log(f"{CHROMIUM} is missing: apt-get install -y chromium")
        return 2
    from playwright.sync_api import sync_playwright

    ds = load_dataset(args)
    server = Server(ds.data_dir, Path(args.data_dir) / "server.log")
    server.start()
    try:
        log(f"server ready in {server.wait_ready(300):.1f}s")
        base = f"http://127.0.0.1:{server.port}"
        start, end = iso(ds.end - timedelta(hours=ds.hours) - timedelta(minutes=1)), iso(ds.end + timedelta(minutes=1))
        last_hour = iso(ds.end - timedelta(hours=1))
        result: dict[str, Any] = {"bench": "ui", "lines": ds.lines, "hours": ds.hours}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                for name, (s, e) in {"all": (start, end), "last_hour": (last_hour, end)}.items():
                    log(f"first results over {name}: {args.runs} navigations")
                    page = first_results(browser, base, f"start={s}&end={e}", args.runs)
                    api = api_ms(server.port, s, e, args.runs)
                    page["api_median_ms"] = round(statistics.median(api), 1)
                    page["ratio_page_to_api"] = round(page["median_ms"] / page["api_median_ms"], 2)
                    page["target_ms"] = 1000
                    result[f"first_results_{name}"] = page
                log(f"live mode: {args.rate} lines/s for {args.seconds:g}s")
                result["live"] = live(browser, base, server.port, args.rate, args.seconds)
            finally:
                browser.close()
    finally:
        server.stop()
    result["note"] = "wall-clock timings on shared cores are noisy; compare the ratios"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
