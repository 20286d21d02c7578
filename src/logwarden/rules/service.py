"""The rules inside a server: load the rule directory, run the engine on the bus, reload on change.

Every enabled rule is evaluated (a disabled rule is loaded and checked, and keeps no state).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from logwarden.bus.embedded import BatchBus
from logwarden.config.model import Config
from logwarden.rules.engine import RulesEngine
from logwarden.rules.loader import RuleSet, RulesWatcher
from logwarden.rules.model import Rule
from logwarden.rules.state import Alert
from logwarden.rules.templates import render

log = logging.getLogger(__name__)
STATE_DIR = "rules"  # under the data directory


def evaluated(ruleset: RuleSet) -> list[Rule]:
    """The rules the engine runs: the enabled ones (a disabled rule keeps no state)."""
    return [rule for rule in ruleset.rules if rule.enabled]


def annotate(spec: Any, alert: Alert) -> dict[str, str]:
    """A rule's annotations rendered for one alert (templates never raise)."""
    context = {
        "labels": alert.labels,
        "value": alert.value,
        "threshold": getattr(spec, "threshold", None),
        "window": getattr(spec, "window", None),
        "evidence": alert.evidence,
    }
    return render(getattr(spec, "annotations", {}) or {}, context)


async def start_rules(config: Config, bus: BatchBus) -> tuple[RulesEngine, asyncio.Task[None]]:
    """Load the rules, add the engine to the bus (before `bus.start`), and start watching the directory."""
    assert config.rules.dir is not None
    interval = config.rules.reload_interval.total_seconds()
    watcher = RulesWatcher(config.rules.dir, interval=interval)
    loop = asyncio.get_running_loop()
    first = await loop.run_in_executor(None, lambda: watcher.check(force=True))
    for problem in first.errors:
        log.error("rules: %s", problem)
    specs: Sequence[Rule] = evaluated(first.ruleset)
    engine = await loop.run_in_executor(
        None, lambda: RulesEngine(config.data_dir / STATE_DIR, specs, annotate=annotate)
    )
    bus.add(engine, lossless=True)
    log.info("rules: %d loaded from %s, %d evaluated", len(first.ruleset), config.rules.dir, len(specs))

    async def watch() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                outcome = await loop.run_in_executor(None, watcher.check)
            except Exception:
                log.exception("rules: reloading %s failed; the running rules stay", config.rules.dir)
                continue
            for problem in outcome.errors:
                log.error("rules: %s", problem)
            if outcome.changed:
                engine.set_rules(evaluated(outcome.ruleset))
                log.info(
                    "rules reloaded: %d added, %d removed, %d changed",
                    len(outcome.added),
                    len(outcome.removed),
                    len(outcome.updated),
                )

    return engine, asyncio.create_task(watch())
