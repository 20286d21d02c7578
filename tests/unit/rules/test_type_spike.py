"""`spike` rules through the real engine on a fake clock: the current window against the previous one, the same
window an offset ago, or a trailing baseline; up, down and both ways; `min_count`, infinite ratios, warm-up,
`for`, hysteresis (`resolve_factor`), late lines, groups appearing and disappearing, and a restart mid-window."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from logwarden.rules.engine import RulesEngine
from logwarden.rules.history_windows import BucketCounts, bucket_dividing, bucket_for_span
from logwarden.rules.types.spike import SpikeEvaluator, SpikeRule
from tests.unit.rules.harness import T0, Clock, transitions
from tests.unit.rules.test_type_absence import at, engine_for, lines, run

API = {"tenant": "default", "service": "api"}


def Spec(**overrides: Any) -> SpikeRule:  # noqa: N802 - reads like the rule it builds
    settings: dict[str, Any] = {
        "name": "spiky",
        "type": "spike",
        "query": "service:api OR service:web",
        "group_by": ["service"],
        "window": "1m",
        "max_delay": "5s",
        "factor": 3,
        "min_count": 5,
    }
    settings.update(overrides)
    return SpikeRule.model_validate(settings)


def steady(until: int, service: str = "api", every: int = 10, n: int = 2) -> list[tuple[int, list[dict[str, Any]]]]:
    """`n` lines of `service` every `every` seconds from 0 up to `until` (a batch each; seq = the second + 1)."""
    return [(s + 1, lines(s, service, n)) for s in range(0, until + 1, every)]


def test_previous_window_spike_up_fires_with_the_ratio_and_resolves(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec())
    run(e, clock, steady(110))  # 12 lines a minute
    run(e, clock, [(200, lines(112, "api", 40))])  # current 50 (+40) against 12: but the rule has not watched 2 windows
    assert e.alerts() == []
    run(e, clock, [(201, lines(125, "api", 40))])
    # head 125: current (65 s, 125 s] holds 2×5 + 40 + 40 = 90 lines, previous (5 s, 65 s] 12.
    assert transitions(e) == [("firing", at(125), API)]
    assert e.alerts()[0].value == pytest.approx(90 / 12)
    assert e.alerts()[0].evidence[-1]["message"] == "api 39"
    # Two minutes of nothing: both windows are empty, nothing to compare (ratio 1): resolves.
    clock.now = T0 + timedelta(seconds=260)
    e.tick()
    assert transitions(e)[-1] == ("resolved", at(255), API)
    e.close()


def test_down_fires_when_a_busy_group_goes_quiet_even_with_no_lines_at_all(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(direction="down"))
    run(e, clock, steady(170, n=3))  # 18 a minute
    assert e.alerts() == []
    clock.now = T0 + timedelta(seconds=200)
    e.tick()  # head 195: current (135, 195] holds 3×4 = 12 of 18 before: not below 18 / 3
    assert e.alerts() == []
    clock.now = T0 + timedelta(seconds=240)
    e.tick()  # head 235: current (175, 235] is empty, previous (115, 175] holds 18: ratio 0
    assert transitions(e) == [("firing", at(235), API)]
    assert e.alerts()[0].value == 0
    # Much later both windows are empty: nothing to compare any more, the alert resolves.
    clock.now = T0 + timedelta(seconds=400)
    e.tick()
    assert transitions(e)[-1][0] == "resolved"
    e.close()


def test_both_ways_min_count_and_an_infinite_ratio_that_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    spec = Spec(direction="both", query="service:web")
    e = engine_for(tmp_path / "rules", clock, spec)
    run(e, clock, steady(119, service="hb"))  # hb lines move the head only
    run(e, clock, [(300, lines(121, "web", 4))])  # a new group: 4 < min_count, no spike from nothing
    assert e.alerts() == []
    run(e, clock, [(301, lines(122, "web", 1))])  # 5 lines against a reference of 0: infinite ratio
    (alert,) = e.alerts()
    assert alert.labels["service"] == "web" and alert.value == math.inf
    # The checkpoint keeps the infinity; a new engine on the same directory restores it and goes on.
    e.close()
    again = engine_for(tmp_path / "rules", clock, spec)
    (restored,) = again.alerts()
    assert restored.value == math.inf and restored.status == "firing"
    run(again, clock, [(302, lines(190, "web", 5))])
    # head 190: web current (130, 190] 5 against previous (70, 130] 5: no longer a spike.
    assert transitions(again)[-1] == ("resolved", at(190), {"tenant": "default", "service": "web"})
    again.close()


BASELINE = {"compare": {"baseline": "10m"}, "resolve_factor": 1.5, "for": "10s"}
BASELINE_BATCHES = [
    (1, lines(-60, "hb")),
    *[(m + 2, lines(m * 60 + 10, "api", 6)) for m in range(11)],  # 6 a minute for 11 minutes
    (20, lines(620, "api", 30)),  # 36 in the window against 6 a minute: 6×, pending
    (21, lines(630, "hb")),  # 10 s later: firing
    (22, lines(670, "api", 6)),
    (23, lines(680, "api", 12)),
    (24, lines(681, "hb")),  # 2×: below factor, above resolve_factor
    (25, lines(741, "hb")),  # empty window: resolves
]


def test_for_and_resolve_factor(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(**BASELINE))
    run(e, clock, BASELINE_BATCHES[:13])
    assert [a.status for a in e.alerts()] == ["pending"]
    run(e, clock, BASELINE_BATCHES[13:14])
    assert transitions(e) == [("firing", at(630), API)]
    # head 681: current (621 s, 681 s] 6 + 12 = 18 against 90 lines in the 10 minutes before: 2×, below
    # factor 3 but above resolve_factor 1.5: still firing.
    run(e, clock, BASELINE_BATCHES[14:17])
    assert [(a.status, round(a.value, 3)) for a in e.alerts()] == [("firing", 2.0)]
    run(e, clock, BASELINE_BATCHES[17:])  # current (681 s, 741 s] is empty: ratio 0, resolves
    assert transitions(e)[-1] == ("resolved", at(741), API)
    e.close()


def test_resolve_factor_holds_an_alert_between_the_levels() -> None:
    ev = SpikeEvaluator(Spec(resolve_factor=1.5))
    tracker = ev.tracker
    fp_values = {"x": ({"service": "api"}, 4.0)}
    assert tracker.update(T0, fp_values)[0].status == "firing"
    assert tracker.update(T0 + timedelta(seconds=1), {"x": ({"service": "api"}, 2.0)}) == []  # < 3 but > 1.5
    assert tracker.update(T0 + timedelta(seconds=2), {"x": ({"service": "api"}, 1.4)})[0].status == "resolved"
    down = SpikeEvaluator(Spec(direction="down", resolve_factor=1.5)).tracker
    assert down.update(T0, {"x": ({"service": "api"}, 0.3)})[0].status == "firing"  # < 1/3
    assert down.update(T0 + timedelta(seconds=1), {"x": ({"service": "api"}, 0.5)}) == []  # > 1/3 but < 1/1.5
    assert down.update(T0 + timedelta(seconds=2), {"x": ({"service": "api"}, 0.7)})[0].status == "resolved"


def test_offset_compares_with_the_same_window_an_hour_ago(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(compare={"offset": "1h"}))
    run(e, clock, [(1, lines(-60, "hb")), (2, lines(10, "api", 10)), (3, lines(1800, "hb"))])
    run(e, clock, [(4, lines(3600 + 20, "api", 30))])  # 30 against 10 an hour ago: not above 3×
    assert e.alerts() == []
    run(e, clock, [(5, lines(3600 + 30, "api", 11))])  # 41 against 10
    assert transitions(e) == [("firing", at(3630), API)]
    assert e.alerts()[0].value == pytest.approx(4.1)
    # The reference is kept in coarse buckets: bounded however long the offset.
    ev = SpikeEvaluator(Spec(compare={"offset": "1w"}))
    assert ev.coarse is not None and (7 * 86400 + 60) * 1_000_000 / ev.coarse.bucket_us <= 2048
    e.close()


def test_baseline_compares_with_the_mean_rate_before_the_window(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(compare={"baseline": "10m"}))
    run(e, clock, [(1, lines(-60, "hb"))])
    run(e, clock, [(m + 2, lines(m * 60 + 10, "api", 6)) for m in range(11)])  # 6 a minute for 11 minutes
    assert e.alerts() == []
    run(e, clock, [(20, lines(630, "api", 30))])
    # head 630: current (570, 630] = 6 + 30; baseline (−30 s, 570 s] = 60 lines in 10 min = 6 per minute.
    assert transitions(e) == [("firing", at(630), API)]
    assert e.alerts()[0].value == pytest.approx(6.0)
    e.close()


def test_late_lines_are_counted_and_not_compared(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(direction="both"))
    run(e, clock, steady(130))
    e.close()
    e = engine_for(tmp_path / "rules", clock, Spec(direction="both"))  # a restart keeps where lines are late
    run(e, clock, [(300, lines(60, "api", 40))])  # head 130: the window starts at 71 s, the allowance at 66 s
    assert e.status()[0]["late"] == 40 and e.alerts() == []
    run(e, clock, [(301, lines(68, "api", 40))])  # within max_delay of the window start: counts, in the previous
    assert e.status()[0]["late"] == 40
    # current (70 s, 130 s] 12 against previous (10 s, 70 s] 12 + 40: a drop to 0.23 (the late 40 are not in it).
    assert [(a.labels["service"], a.value) for a in e.alerts()] == [("api", 12 / 52)]
    e.close()


BATCHES = [
    *steady(120),
    (200, lines(125, "api", 40)),  # fires
    (201, lines(150, "web", 10)),  # web from nothing: fires (infinite)
    (202, lines(160, "hb")),
    (203, lines(240, "api", 2)),  # api and web: resolve
    (204, lines(300, "web", 2)),
]


@pytest.mark.parametrize(
    ("settings", "batches", "expected_statuses"),
    [
        ({}, BATCHES, [("firing", "api"), ("firing", "web"), ("resolved", "api"), ("resolved", "web")]),
        (BASELINE, BASELINE_BATCHES, [("firing", "api"), ("resolved", "api")]),
    ],
    ids=["previous", "baseline"],
)
def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(
    tmp_path: Path, settings: dict[str, Any], batches: list[Any], expected_statuses: list[tuple[str, str]]
) -> None:
    def transitions(e: RulesEngine) -> list[tuple[str, str, dict[str, str], float | None]]:
        return [(h["status"], h["at"], h["alert"]["labels"], h["alert"]["value"]) for h in reversed(e.history())]

    clock = Clock()
    whole = engine_for(tmp_path / "whole", clock, Spec(**settings))
    run(whole, clock, batches)
    expected = transitions(whole)
    assert [(s, labels["service"]) for s, _, labels, _ in expected] == expected_statuses
    for cut in range(4, len(batches), 3):
        clock = Clock()
        first = engine_for(tmp_path / f"split{cut}", clock, Spec(**settings))
        run(first, clock, batches[:cut])
        second = engine_for(tmp_path / f"split{cut}", clock, Spec(**settings))  # the first one died unclosed
        run(second, clock, [b for b in batches if b[0] > (second.cursor() or 0)])
        assert transitions(second) == expected, cut
        second.close()
    whole.close()


def test_settings_are_checked_with_clear_messages() -> None:
    with pytest.raises(
        ValidationError, match=re.escape("use previous, {offset: <duration>} or {baseline: <duration>}")
    ):
        Spec(compare="last week")
    with pytest.raises(ValidationError, match="use previous"):
        Spec(compare={"offset": "1h", "baseline": "1h"})
    with pytest.raises(ValidationError, match="the reference span must be at least window"):
        Spec(compare={"baseline": "30s"})
    with pytest.raises(ValidationError, match="must be between 1 and factor"):
        Spec(resolve_factor=4)
    with pytest.raises(ValidationError, match="greater than 1"):
        Spec(factor=1)
    assert Spec(factor=5).threshold == 5  # what annotation templates see


def test_buckets_divide_the_window_and_spread_totals_share_edge_buckets() -> None:
    assert bucket_dividing(60_000_000) == 1_000_000
    assert bucket_dividing(3_600_000_000) == 60_000_000
    assert bucket_dividing(420_000_000) == 7_000_000
    assert bucket_dividing(61_000_000) == 1_000_000
    assert bucket_dividing(1_500_000) == 1_500_000
    assert bucket_for_span(3_660_000_000, 1_000_000, 256) == 15_000_000
    counts = BucketCounts(2_000_000)
    counts.add_seconds(["a", "a"], [0, 2], [8, 4])  # buckets 0 ([0, 2 s)) and 1 ([2, 4 s))
    assert counts.spread_total("a", 0, 4_000_000) == 12
    assert counts.spread_total("a", 1_000_000, 3_000_000) == 4 + 2
    counts.drop_before(1)
    assert counts.totals(0, 5) == {"a": 4}
