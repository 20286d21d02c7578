"""Newest-first reads try the newest windows of the range before the whole of it (store/duckdb/execute.py
`newest_first`): the page of hits and the field summary's sample must be exactly what one statement over the
whole range answers, whichever window the answer comes from."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logwarden.api.app import create_app
from logwarden.query.engine import field_summary
from tests.conftest import make_config

# The query range is 256 minutes, so the windows tried are its last 1 minute, then its last 16 minutes.
SPAN = timedelta(minutes=256)
# (service, offset before the range's end, lines): 20 "edge" lines share the first window's exact lower bound.
GROUPS = (("old", timedelta(minutes=200), 100), ("mid", timedelta(minutes=10), 100), ("edge", timedelta(minutes=1), 20))
RECENT = 30  # "recent" lines, half a second apart, in the last minute


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, datetime, list[dict[str, Any]]]]:
    tmp: Path = tmp_path_factory.mktemp("newest-first")
    # From the moment the test runs, on a whole second: the bounds below are exact.
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    lines: list[dict[str, Any]] = []
    for service, before, n in GROUPS:
        lines += [{"ts": end - before, "service": service, "n": len(lines) + i} for i in range(n)]
    base = end - timedelta(seconds=30)
    lines += [
        {"ts": base + timedelta(milliseconds=500 * (i // 2)), "service": "recent", "n": len(lines) + i}
        for i in range(RECENT)
    ]
    body = b"\n".join(
        orjson.dumps(
            {"ts": line["ts"].isoformat(), "service": line["service"], "message": f"line {line['n']}", "n": line["n"]}
        )
        for line in lines
    )
    with TestClient(create_app(make_config(tmp), run_maintenance=False)) as client:
        resp = client.post("/api/v1/ingest", content=body)
        assert resp.status_code == 200, resp.text
        # Newest first; lines sharing a ts in arrival order reversed (they arrived in `n` order).
        expected = sorted(lines, key=lambda line: (line["ts"], line["n"]), reverse=True)
        yield client, end, expected


def _range(end: datetime) -> dict[str, str]:
    return {"start": (end - SPAN).isoformat(), "end": end.isoformat()}


@pytest.mark.parametrize(
    "limit",
    [
        25,  # the first window has 30 recent lines: enough
        40,  # the first window holds the 20 lines at its exact lower bound: 30 recent + 10 of them
        120,  # the first window has 50: too few; the second (16 min) has 150
        300,  # neither window has enough: the whole range
    ],
)
def test_a_page_of_hits_is_the_newest_lines_whichever_window_answers(
    served: tuple[TestClient, datetime, list[dict[str, Any]]], limit: int
) -> None:
    client, end, expected = served
    resp = client.post("/api/v1/query", json={"q": "", **_range(end), "limit": limit})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [hit["attrs"]["n"] for hit in body["hits"]] == [line["n"] for line in expected[:limit]]
    assert body["total"] == len(expected)


def test_a_filter_matching_only_old_lines_reads_the_whole_range(
    served: tuple[TestClient, datetime, list[dict[str, Any]]],
) -> None:
    client, end, expected = served
    resp = client.post("/api/v1/query", json={"q": "service:old", **_range(end), "limit": 10})
    assert resp.status_code == 200, resp.text
    old = [line["n"] for line in expected if line["service"] == "old"]
    assert [hit["attrs"]["n"] for hit in resp.json()["hits"]] == old[:10]


@pytest.mark.parametrize("sample", [25, 40, 120, 300, 1000])
def test_the_field_summary_counts_exactly_the_newest_sample(
    served: tuple[TestClient, datetime, list[dict[str, Any]]], sample: int
) -> None:
    client, end, expected = served
    store = client.app.state.runtime.require_store()  # type: ignore[attr-defined]
    summarize = functools.partial(
        field_summary, store, "", tenant="default", start=end - SPAN, end=end, sample=sample, now=end
    )
    assert client.portal is not None
    body = client.portal.call(summarize)
    newest = expected[:sample]
    assert body["sampled"] == len(newest)
    service = next(f for f in body["fields"] if f["name"] == "service")
    counts: dict[str, int] = {}
    for line in newest:
        counts[line["service"]] = counts.get(line["service"], 0) + 1
    assert {t["value"]: t["count"] for t in service["top"]} == counts
    assert service["count"] == len(newest)
