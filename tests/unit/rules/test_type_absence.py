"""`absence` rules through the real engine on a fake clock: a known group that stops reporting fires — by event
time when other lines move the head, by the wall clock (`tick`) when nothing arrives at all — and resolves when
its lines come back; expected groups per tenant, `forget_after`, `for`, hysteresis, late lines and a restart
mid-window.

The helpers here (`Clock`, `stored`, `line`, `engine_for`, `log_of`, `run`) are shared by the spike and anomaly
tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from logwarden.rules.engine import RulesEngine
from logwarden.rules.types.absence import AbsenceRule
from tests.unit.rules.harness import T0, Clock, stored, transitions


def lines(seconds: float, service: str, n: int = 1, **fields: Any) -> list[dict[str, Any]]:
    ts = (T0 + timedelta(seconds=seconds)).isoformat()
    return [{"ts": ts, "level": "info", "service": service, "msg": f"{service} {i}", **fields} for i in range(n)]


def engine_for(path: Path, clock: Clock, *specs: Any) -> RulesEngine:
    return RulesEngine(path, specs, clock=clock, idle=timedelta(0), tick=None)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def run(e: RulesEngine, clock: Clock, batches: Sequence[tuple[int, list[dict[str, Any]]]]) -> None:
    """Hand the batches over, the clock a second after the newest line of each (so the head is that line)."""
    for seq, records in batches:
        newest = max(datetime.fromisoformat(r["ts"]) for r in records)
        clock.now = max(clock.now, newest + timedelta(seconds=1))
        e.handle(stored(seq, records))


def Spec(**overrides: Any) -> AbsenceRule:  # noqa: N802 - reads like the rule it builds
    settings: dict[str, Any] = {
        "name": "silent",
        "type": "absence",
        "query": "*",
        "group_by": ["service"],
        "window": "1m",
        "max_delay": "5s",
    }
    settings.update(overrides)
    return AbsenceRule.model_validate(settings)


def test_a_service_that_stops_fires_by_event_time_and_on_the_wall_clock_and_resolves_when_it_returns(
    tmp_path: Path,
) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec())
    run(e, clock, [(1, lines(1, "api") + lines(1, "web")), (2, lines(50, "web"))])
    assert e.alerts() == []
    # web's lines move the head to 70 s: api has had no line in (10 s, 70 s].
    run(e, clock, [(3, lines(70, "web"))])
    assert transitions(e) == [("firing", at(70), {"tenant": "default", "service": "api"})]
    # Then nothing arrives at all: the wall clock moves the head (now − max_delay) and web is silent too.
    clock.now = T0 + timedelta(seconds=140)
    e.tick()
    assert transitions(e)[-1] == ("firing", at(135), {"tenant": "default", "service": "web"})
    assert {a.labels["service"]: a.value for a in e.alerts()} == {"api": 0, "web": 0}
    # api is back: its alert resolves in that batch; web's stays.
    run(e, clock, [(4, lines(141, "api"))])
    assert transitions(e)[-1] == ("resolved", at(141), {"tenant": "default", "service": "api"})
    assert [a.labels["service"] for a in e.alerts()] == ["web"]
    e.close()


def test_expected_groups_fire_per_tenant_once_the_rule_has_watched_a_whole_window(tmp_path: Path) -> None:
    clock = Clock()
    spec = Spec(expect=[{"service": "db"}, {"service": "db", "tenant": "acme"}])
    e = engine_for(tmp_path / "rules", clock, spec)
    run(e, clock, [(1, lines(1, "api")), (2, lines(40, "api"))])
    assert e.alerts() == []  # watched 39 s only: db may just not have logged yet
    # db logs in another tenant: that does not make the default tenant's or acme's db present.
    clock.now = T0 + timedelta(seconds=62)
    e.handle(stored(3, lines(61, "db"), tenant="other"))
    assert sorted((a.labels["tenant"], a.labels["service"]) for a in e.alerts()) == [
        ("acme", "db"),
        ("default", "db"),
    ]
    clock.now = T0 + timedelta(seconds=71)
    e.handle(stored(4, lines(70, "db"), tenant="acme"))
    assert sorted((a.labels["tenant"], a.labels["service"]) for a in e.alerts()) == [("default", "db")]
    assert e.status()[0]["groups"] == 4  # seen: default api, other db, acme db; expected: default db, acme db
    e.close()


def test_a_group_is_forgotten_after_forget_after_and_its_alert_resolves(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(query="service:api OR service:new", forget_after="5m"))
    run(e, clock, [(1, lines(1, "api") + lines(1, "hb"))])
    run(e, clock, [(2, lines(70, "hb"))])  # hb is not matched: it only moves the head
    assert [a.labels["service"] for a in e.alerts()] == ["api"]
    run(e, clock, [(3, lines(200, "hb") + lines(200, "new"))])  # a new group appears: known from now on
    assert e.status()[0]["groups"] == 2
    # 5 min after api's last line it is forgotten: its alert resolves, it is no longer known.
    run(e, clock, [(4, lines(302, "hb") + lines(302, "new"))])
    assert transitions(e)[-1] == ("resolved", at(302), {"tenant": "default", "service": "api"})
    assert e.alerts() == [] and e.status()[0]["groups"] == 1
    run(e, clock, [(5, lines(400, "hb"))])  # still forgotten: no new alert for api, but new is silent now
    assert [a.labels["service"] for a in e.alerts()] == ["new"]
    e.close()


def test_for_holds_it_pending_and_resolve_above_keeps_it_firing_until_enough_lines(tmp_path: Path) -> None:
    clock = Clock()
    spec = Spec(query="service:api", threshold=3, resolve_above=5, **{"for": "20s"})
    e = engine_for(tmp_path / "rules", clock, spec)
    run(e, clock, [(1, lines(1, "api", 10)), (2, lines(62, "api", 2))])
    assert [a.status for a in e.alerts()] == ["pending"]  # 2 < 3 since 62 s
    run(e, clock, [(3, lines(72, "hb"))])
    assert transitions(e) == []
    run(e, clock, [(4, lines(82, "hb"))])
    assert transitions(e) == [("firing", at(82), {"tenant": "default", "service": "api"})]
    run(e, clock, [(5, lines(90, "api", 2))])  # 4 lines: no longer below 3, but not yet 5
    assert [a.status for a in e.alerts()] == ["firing"]
    run(e, clock, [(6, lines(95, "api"))])  # 5 lines: resolves
    assert transitions(e)[-1] == ("resolved", at(95), {"tenant": "default", "service": "api"})
    e.close()


def test_a_late_line_within_max_delay_counts_and_an_older_one_is_late(tmp_path: Path) -> None:
    clock = Clock()
    e = engine_for(tmp_path / "rules", clock, Spec(query="service:api"))
    run(e, clock, [(1, lines(1, "api")), (2, lines(70, "hb"))])
    assert [a.labels["service"] for a in e.alerts()] == ["api"]
    run(e, clock, [(3, lines(5, "api"))])  # before the window (10 s, 70 s] by more than max_delay: late
    assert e.status()[0]["late"] == 1 and len(e.alerts()) == 1
    run(e, clock, [(4, lines(66, "api"))])  # 4 s behind the head but in the window: counts
    assert transitions(e)[-1][0] == "resolved" and e.alerts() == []
    e.close()


BATCHES = [
    (1, lines(1, "api") + lines(1, "web")),
    (2, lines(30, "web")),
    (3, lines(65, "web")),  # api silent: fires
    (4, lines(80, "api")),  # api back: resolves
    (5, lines(100, "api")),
    (6, lines(150, "api")),  # web silent since 65 s: fires
    (7, lines(170, "web")),  # web back
]


def test_a_restart_mid_window_neither_misses_nor_doubles_a_transition(tmp_path: Path) -> None:
    clock = Clock()
    whole = engine_for(tmp_path / "whole", clock, Spec())
    run(whole, clock, BATCHES)
    expected = transitions(whole)
    assert [s for s, _, _ in expected] == ["firing", "resolved", "firing", "resolved"]
    for cut in (2, 3, 5):
        clock = Clock()
        first = engine_for(tmp_path / f"split{cut}", clock, Spec())
        run(first, clock, BATCHES[:cut])
        # The process dies here (no close); the next one resumes after the committed cursor.
        second = engine_for(tmp_path / f"split{cut}", clock, Spec())
        run(second, clock, [b for b in BATCHES if b[0] > (second.cursor() or 0)])
        assert transitions(second) == expected, cut
        second.close()
    whole.close()


def test_settings_are_checked_with_clear_messages() -> None:
    with pytest.raises(ValidationError, match="must be at least threshold"):
        Spec(threshold=3, resolve_above=2)
    with pytest.raises(ValidationError, match="must be longer than window"):
        Spec(forget_after="1m")
    with pytest.raises(
        ValidationError, match=r"entry 0: give exactly the group_by fields \(service\).*missing: service"
    ):
        Spec(expect=[{"host": "a"}])
    with pytest.raises(ValidationError, match="unknown: host"):
        Spec(expect=[{"service": "a", "host": "b"}])
    assert Spec(expect=[{"service": "a", "tenant": "t"}]).expected_keys() == ["t\x1fa"]
    assert Spec(group_by=[], expect=[{}]).expected_keys() == ["default"]
