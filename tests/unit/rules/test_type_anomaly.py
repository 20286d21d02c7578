"""`anomaly` rules through the real engine on a fake clock: closed fixed windows teach each group what is usual
(`mad`, `ewma`, per hour of the week), the sliding window at the head is compared in deviations; up, down (on
the wall clock too) and both ways, `warmup`, `for`, hysteresis (`resolve_below`), late lines, groups appearing and
being forgotten, and a restart mid-window."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from logwarden.rules.history_windows import hour_of_week, to_us
from logwarden.rules.types.anomaly import AnomalyEvaluator, AnomalyRule
from tests.unit.rules.harness import T0, Clock, transitions
from tests.unit.rules.test_type_absence import at, engine_for, lines, run

API = {"tenant": "default", "service": "api"}
KEY = "default\x1fapi"
USUAL = [100, 90, 110, 95, 105, 100, 98, 102]  # median 100, MAD 5 (×1.4826 < the floor √100 = 10)


def Spec(**overrides: Any) -> AnomalyRule:  # noqa: N802 - reads like the rule it builds
    settings: dict[str, Any] = {
        "name": "unusual",
        "type": "anomaly",
        "query": "service:api OR service:web",
        "group_by": ["service"],
        "window": "1m",
        "max_delay": "5s",
        "history": 10,
        "warmup": 5,
        "threshold": 4,
    }
    settings.update(overrides)
    return AnomalyRule.model_validate(settings)


def minutes(counts: list[int], first: int = 0, seq: int = 2, service: str = "api") -> list[tuple[int, list[Any]]]:
    """A batch per minute from minute `first`: `counts[i]` lines at 5 s past the minute (for 0, a line of another
    service, which only moves the head)."""
    return [
        (seq + i, lines((first + i) * 60 + 5, service, n) if n else lines((first + i) * 60 + 5, "hb"))
        for i, n in enumerate(counts)
    ]


START = [(1, lines(-1, "hb"))]  # the rule watches from just before minute 0: minute 0 is its first window


def evaluator(e: Any) -> AnomalyEvaluator:
    (rule,) = [r for r in e._rules.values()]
    assert isinstance(rule[1], AnomalyEvaluator)
    return rule[1]


def test_mad_fires_up_on_a_burst_and_resolves_when_the_rate_is_usual_again(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(direction="up"))
    run(e, clock, START + minutes(USUAL))
    model = evaluator(e).models[KEY]
    assert model.counts == USUAL[:7]  # minute 7 closes at 8 min + max_delay
    assert e.alerts() == []
    run(e, clock, minutes([160], first=8, seq=20))
    assert transitions(e) == [("firing", at(485), API)]
    assert e.alerts()[0].value == pytest.approx(6.0)  # (160 − 100) / 10
    run(e, clock, minutes([100], first=9, seq=21))  # the sliding window holds 100 again
    assert transitions(e)[-1] == ("resolved", at(545), API)
    e.close()


def test_down_fires_on_the_wall_clock_and_resolve_below_holds_it_until_usual(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(direction="down", resolve_below=2))
    run(e, clock, START + minutes([*USUAL, 100]))
    clock.now = T0 + timedelta(seconds=9 * 60 + 30)
    e.tick()  # nothing arrives: head 9:25, the window (8:25, 9:25] holds nothing, 10 spreads below
    assert transitions(e) == [("firing", at(565), API)]
    assert e.alerts()[0].value == pytest.approx(-10.0)
    run(e, clock, [(30, lines(580, "api", 70))])  # 3 spreads below: not beyond 4, but not back within 2
    assert [(a.status, a.value) for a in e.alerts()] == [("firing", pytest.approx(-3.0))]
    run(e, clock, [(31, lines(605, "api", 30))])  # (545, 605]: 100 — usual again
    assert transitions(e)[-1] == ("resolved", at(605), API)
    e.close()


def test_warmup_new_groups_and_forgotten_groups(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(history=5, warmup=3, direction="up"))
    run(e, clock, START + minutes([100] * 4))
    web = [(10 + i, lines((4 + i) * 60 + 5, "web", 10) + lines((4 + i) * 60 + 5, "api", 100)) for i in range(2)]
    run(e, clock, web)  # web appears at minute 4
    run(e, clock, [(20, lines(6 * 60 + 5, "web", 200) + lines(6 * 60 + 5, "api", 100))])
    assert e.alerts() == []  # web has learnt 2 windows (minutes 4 and 5): still warming up
    ev = evaluator(e)
    assert ev.models["default\x1fweb"].seen == 2 and e.status()[0]["groups"] == 2
    run(e, clock, [(21, lines(7 * 60 + 5, "api", 100)), (22, lines(8 * 60 + 5, "api", 300))])
    assert [a.labels["service"] for a in e.alerts()] == ["api"]  # api is warm: 300 fires at once
    # web sends nothing more: after `history` (5) closed windows without a line it is forgotten.
    run(e, clock, minutes([100] * 6, first=9, seq=30))
    assert "default\x1fweb" not in ev.models and e.status()[0]["groups"] == 1
    e.close()


def test_ewma_learns_a_weighted_mean_and_variance(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(method="ewma", alpha=0.5, warmup=4, direction="up"))
    both = [
        (m + 2, lines(m * 60 + 5, "api", n) + lines(m * 60 + 5, "web", n)) for m, n in enumerate([100, 140, 60, 140])
    ]
    run(e, clock, START + both)
    assert e.alerts() == []
    run(e, clock, [(20, lines(245, "api", 300) + lines(245, "web", 250))])
    # minute 3 closed at 4:05: mean 100 → 120 → 90 → 115; variance 0 → 400 → 1100 → 1175 (spread 34.28 > √115)
    (moments,) = evaluator(e).models[KEY].moments.values()
    assert moments == pytest.approx([115.0, 1175.0, 4.0])
    (alert,) = e.alerts()  # web: (250 − 115) / 34.28 = 3.94, not beyond 4
    assert alert.labels == API and alert.value == pytest.approx((300 - 115) / 1175**0.5)
    e.close()


def test_hour_of_week_seasonality_knows_the_busy_hour(tmp_path: Path) -> None:
    monday = T0 + timedelta(hours=12)  # T0 is Sunday 2026-03-01 12:00 UTC
    assert hour_of_week(to_us(monday + timedelta(hours=9))) == 9

    def day(d: int, seq: int) -> tuple[int, list[Any]]:
        """A day of lines: 10 every half hour, 1000 in each half hour of the busy hour (Monday 9:00–10:00)."""
        out: list[Any] = []
        for half in range(48):
            start = monday + timedelta(days=d, minutes=30 * half)
            n = 1000 if d == 0 and half in (18, 19) else 10
            out += lines((start - T0).total_seconds() + 60, "api", n)
        return seq, out

    def week2(seasonality: str | None) -> list[str]:
        clock = Clock()
        spec = Spec(
            method="ewma", alpha=0.5, warmup=2, window="30m", seasonality=seasonality, direction="up", history=100
        )
        e = engine_for(tmp_path / str(seasonality), clock, spec)
        run(e, clock, [(1, lines((monday - T0).total_seconds() - 1, "hb"))] + [day(d, d + 2) for d in range(7)])
        fired = []
        for seq, half in enumerate((18, 19, 20), start=20):  # Monday 9:00, 9:30, 10:00 of the next week
            offset = (monday + timedelta(days=7, minutes=30 * half) - T0).total_seconds() + 60
            before = len(transitions(e))
            run(e, clock, [(seq, lines(offset, "api", 1000))])
            fired += [str(half) for s, _, _ in transitions(e)[before:] if s == "firing"]
        e.close()
        return fired

    assert week2("hour_of_week") == ["20"]  # 9:00–10:00 is busy every Monday; 10:00 is not
    assert week2(None) == ["18"]  # without seasons the busy hour itself is the anomaly


def test_a_line_of_an_open_window_counts_and_one_of_a_closed_window_is_late(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec())
    run(e, clock, START + minutes(USUAL) + [(20, lines(483, "hb"))])
    run(e, clock, [(21, lines(479, "api"))])  # minute 7 ends at 480 and closes at 485: still open
    run(e, clock, [(22, lines(490, "hb"))])
    assert evaluator(e).models[KEY].counts[-1] == USUAL[7] + 1
    run(e, clock, [(23, lines(478, "api"))])  # minute 7 has closed: late
    assert e.status()[0]["late"] == 1 and evaluator(e).models[KEY].counts[-1] == USUAL[7] + 1
    e.close()


BATCHES = [*START, *minutes(USUAL), *minutes([160, 100, 0, 0, 100], first=8, seq=20)]


def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(tmp_path: Path) -> None:
    clock = Clock()
    whole = engine_for(tmp_path / "whole", clock, Spec())
    run(whole, clock, BATCHES)
    expected = transitions(whole)
    assert [s for s, _, _ in expected] == ["firing", "resolved", "firing", "resolved"]  # up at 8, down at 10
    for cut in (4, 9, 10, 12, 13):
        clock = Clock()
        first = engine_for(tmp_path / f"split{cut}", clock, Spec())
        run(first, clock, BATCHES[:cut])
        second = engine_for(tmp_path / f"split{cut}", clock, Spec())  # the first one died without closing
        run(second, clock, [b for b in BATCHES if b[0] > (second.cursor() or 0)])
        assert transitions(second) == expected, cut
        second.close()
    whole.close()


def test_settings_are_checked_with_clear_messages() -> None:
    with pytest.raises(ValidationError, match=r"alpha\n.*applies to method: ewma only"):
        Spec(alpha=0.3)
    with pytest.raises(ValidationError, match=r"seasonality\n.*needs method: ewma"):
        Spec(seasonality="hour_of_week")
    with pytest.raises(ValidationError, match="needs a window that divides an hour"):
        Spec(method="ewma", seasonality="hour_of_week", window="7m")
    with pytest.raises(ValidationError, match="must be between 0 and threshold"):
        Spec(resolve_below=5)
    assert Spec(method="ewma", alpha=0.3, seasonality="hour_of_week", window="15m").alpha == 0.3


def test_for_holds_an_unusual_rate_pending_until_it_lasts(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(direction="up", **{"for": "2m"}))
    run(e, clock, START + minutes(USUAL))
    run(e, clock, minutes([160], first=8, seq=20))  # unusual at 8:05: pending, not firing
    assert transitions(e) == [] and [a.status for a in e.alerts()] == ["pending"]
    run(e, clock, minutes([100], first=9, seq=21))  # usual again before `for` passed: dropped, never fired
    assert transitions(e) == [] and e.alerts() == []
    e.close()


def test_for_fires_an_unusual_rate_once_it_has_lasted(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(direction="up", **{"for": "2m"}))
    run(e, clock, START + minutes(USUAL))
    run(e, clock, minutes([160, 160], first=8, seq=20))  # pending from 8:05; 9:05 is one minute in
    assert transitions(e) == [] and [a.status for a in e.alerts()] == ["pending"]
    run(e, clock, minutes([160], first=10, seq=22))  # 10:05: two minutes unusual
    assert transitions(e) == [("firing", at(605), API)]
    e.close()
