from __future__ import annotations

import threading

from logwarden.pipeline.enrich.user_agent import UserAgent
from logwarden.pipeline.fields import wide_from_records
from tests.unit.pipeline.transforms.helpers import build, rows

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
OUTPUTS = ("browser", "browser_version", "os", "os_version", "device", "is_bot")


def test_browsers_systems_devices_and_bots() -> None:
    step = build({"type": "user_agent", "field": "agent"})
    records = [
        {"message": "a", "agent": CHROME},
        {"message": "b", "agent": IPHONE},
        {"message": "c", "agent": GOOGLEBOT},
        {"message": "d", "agent": "curl/8.4.0"},
        {"message": "e", "agent": FIREFOX},
        {"message": "f", "agent": "-"},
        {"message": "g"},
        {"message": "h", "agent": CHROME},
    ]
    out = step.process(wide_from_records(records))
    got = rows(out, *(f"user_agent.{o}" for o in OUTPUTS))
    strip = [{k.removeprefix("user_agent."): v for k, v in r.items()} for r in got]
    chrome = {
        "browser": "Chrome",
        "browser_version": "120.0.0",
        "os": "Windows",
        "os_version": "10",
        "device": "Other",
        "is_bot": False,
    }
    assert strip[0] == chrome and strip[7] == chrome
    assert strip[1] == {
        "browser": "Mobile Safari",
        "browser_version": "17.1",
        "os": "iOS",
        "os_version": "17.1",
        "device": "iPhone",
        "is_bot": False,
    }
    assert strip[2]["browser"] == "Googlebot" and strip[2]["device"] == "Spider" and strip[2]["is_bot"] is True
    assert strip[3]["browser"] == "curl" and strip[3]["is_bot"] is True
    assert strip[4]["browser"] == "Firefox" and strip[4]["os"] == "Linux" and strip[4]["is_bot"] is False
    assert strip[5] == strip[6] == dict.fromkeys(OUTPUTS)


def test_default_field_and_custom_target() -> None:
    step = build({"type": "user_agent", "target": "ua_"})
    out = step.process(wide_from_records([{"message": "a", "user_agent": FIREFOX}]))
    assert rows(out, "ua_browser", "ua_os") == [{"ua_browser": "Firefox", "ua_os": "Linux"}]


def test_results_are_cached_across_batches_and_threads() -> None:
    step = build({"type": "user_agent", "field": "agent", "cache_size": 2})
    assert isinstance(step, UserAgent)
    agents = [CHROME, IPHONE, FIREFOX, GOOGLEBOT]
    batches = [wide_from_records([{"message": "x", "agent": a} for a in agents * 50]) for _ in range(4)]
    results: list[list[str]] = []

    def work(i: int) -> None:
        results.append(step.process(batches[i]).batch.column("user_agent.browser").to_pylist())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r[:4] == ["Chrome", "Mobile Safari", "Firefox", "Googlebot"] for r in results)
    assert len(step.cache) == 2


def test_missing_field_is_fine() -> None:
    out = build({"type": "user_agent"}).process(wide_from_records([{"message": "x"}]))
    assert out.batch.num_rows == 1 and "user_agent.browser" not in out.batch.column_names
