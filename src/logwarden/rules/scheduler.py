"""Scheduled rules (rules/types/scheduled.py) on the server's event loop: each run's query for every tenant with
data, its values handed to the engine, which commits them like a batch's (state, transitions, current alerts).

A rule's runs are aligned to multiples of its `every`; the run for evaluation time T starts at T + `max_delay`
and reads `[T − range, T)`. A run whose queries fail changes nothing and is tried again on the next pass; runs
missed while the server was down are not made up (the next one covers the rule's range again). Rules run one
after another, so one slow query delays the others but never overlaps itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from logwarden.logmetrics.query import series_tenants
from logwarden.rules.engine import RulesEngine
from logwarden.rules.types.metric_source import MetricRuleEvaluator, SeriesSource
from logwarden.rules.types.scheduled import ScheduledEvaluator

if TYPE_CHECKING:  # only named in annotations: rules need no part of a store backend at run time
    from logwarden.store.base import Store

log = logging.getLogger(__name__)

MAX_SLEEP = 1.0  # seconds between passes at most: new and changed rules are picked up this fast


class RuleScheduler:
    """Runs the engine's scheduled rules when they are due (`run` forever, or `run_due` once)."""

    def __init__(
        self,
        engine: RulesEngine,
        store: Store,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._store = store
        self._clock = clock
        self.series: SeriesSource | None = None  # the server's log metrics, for `aggregate` rules with `metric`

    async def run(self) -> None:
        """Run due rules, then sleep until the next one is due (at most `MAX_SLEEP`), until cancelled."""
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduled rules: a pass failed; retrying")
            now = self._clock()
            upcoming = [rule.next_due(now) for _, rule in self._engine.scheduled()]
            wait = min([(t - now).total_seconds() for t in upcoming], default=MAX_SLEEP)
            await asyncio.sleep(min(max(wait, 0.01), MAX_SLEEP))

    async def run_due(self) -> int:
        """Run every rule that is due now, once; returns how many runs were committed."""
        done = 0
        loop = asyncio.get_running_loop()
        for digest, rule in self._engine.scheduled():
            at = rule.due(self._clock())
            if at is None:
                continue
            try:
                values = await self._values(rule, at)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                rule.failed(at, f"{type(exc).__name__}: {exc}")
                log.warning("scheduled rule %s: the run at %s failed: %s", rule.name, at.isoformat(), exc)
                continue
            outcome = await loop.run_in_executor(None, self._engine.record_run, rule.name, digest, at, values)
            done += outcome >= 0
        return done

    async def _values(self, rule: ScheduledEvaluator, at: datetime) -> dict[str, tuple[dict[str, str], float]]:
        if isinstance(rule, MetricRuleEvaluator):
            return await self._series_values(rule, at)
        values: dict[str, tuple[dict[str, str], float]] = {}
        for tenant in self.tenants(rule, at):
            table = await self._store.execute(rule.plan_for(tenant, at).plan)
            values.update(rule.values_of(tenant, table))
        return values

    async def _series_values(self, rule: MetricRuleEvaluator, at: datetime) -> dict[str, tuple[dict[str, str], float]]:
        """A metric rule's run: its rule's tenant's series, or every tenant's with series of the metric."""
        source = self.series
        definition = rule.definition(source)
        assert source is not None  # definition() refuses a missing source
        store, now = source.store, self._clock()

        def read() -> dict[str, tuple[dict[str, str], float]]:
            tenants = [rule.tenant] if rule.tenant is not None else series_tenants(store, rule.metric)
            return rule.values_from(store, definition, tenants, at, now)

        return await asyncio.get_running_loop().run_in_executor(None, read)

    def tenants(self, rule: ScheduledEvaluator, at: datetime) -> list[str]:
        """The tenants a run reads: the rule's own (a rule made through the API), else every tenant with a
        partition in the run's range."""
        if rule.tenant is not None:
            return [rule.tenant]
        first, last = (at - rule.range).date(), (at - timedelta(microseconds=1)).date()
        hot, archived = self._store.partitions()
        return sorted({p.tenant for p in (*hot, *archived) if first <= p.day <= last})
