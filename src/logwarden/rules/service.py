"""The rules inside a server: the rule directory and the rules made through the API, run by one engine on the
bus (and the scheduler for scheduled rules), reloaded on change.

Every enabled rule is evaluated (a disabled rule is loaded and checked, and keeps no state). The engine always
runs, with or without rules: a rule made through the API applies at once, and an engine without rules costs
a loop over no rules and one small commit a second.

**Rules made through the API** belong to a tenant: they read only that tenant's lines (a streaming rule's query
gets `tenant:"<tenant>" AND (…)`, a scheduled rule queries that tenant only). Rule names are unique across the
files and every tenant's API rules; should a file later take an API rule's name, the file's rule wins and the
API rule is reported as shadowed. API rules are re-read whenever the API changes them and every
`rules.reload_interval` (another server may have changed them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from logwarden.bus.embedded import BatchBus
from logwarden.config.model import Config
from logwarden.query.errors import QuerySyntaxError
from logwarden.query.parser import parse_filter
from logwarden.rules.base import HistoryReader
from logwarden.rules.engine import RulesEngine
from logwarden.rules.loader import RuleEntry, RuleSet, RulesWatcher
from logwarden.rules.model import Rule, RuleGroup
from logwarden.rules.scheduler import RuleScheduler
from logwarden.rules.state import Alert
from logwarden.rules.statestore import (
    LEGACY_FILE,
    ApiRule,
    ApiRuleRepository,
    SqlStateStore,
    import_legacy_state,
)
from logwarden.rules.templates import format_duration, render
from logwarden.rules.types import KNOWN_TYPES
from logwarden.rules.types.aggregate import AggregateRule
from logwarden.rules.types.scheduled import ScheduledRule

if TYPE_CHECKING:
    from logwarden.meta.db import MetaDB
    from logwarden.store.base import Store

log = logging.getLogger(__name__)
STATE_DIR = "rules"  # under the data directory: the rule state before the metadata database held it


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


# --- a rule sent to the API ------------------------------------------------------------------------------


class RuleInputError(ValueError):
    """A rule sent to the API that is not valid; `problems` has one `where: what` per error."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class RuleInput:
    """A valid rule from the API: its group, the group's interval as written, the mapping as sent, the model."""

    group: str
    interval: str | None
    mapping: dict[str, Any]
    rule: Rule
    interval_value: timedelta | None


_BODY_FIELDS = frozenset({"group", "interval", "rule"})


def check_api_rule(body: Any, tenant: str) -> RuleInput:
    """Validate `{"group": …, "interval": …, "rule": {…}}` with the rule file's models; RuleInputError says
    where (`rule.threshold`, `group`) and what, in the words `rules check` uses."""
    if not isinstance(body, dict):
        raise RuleInputError(['the body must be a JSON object: {"group": "...", "rule": {"name": ..., "type": ...}}'])
    unknown = sorted(set(body) - _BODY_FIELDS - {"name", "source", "id", "created", "updated"})
    if unknown:
        raise RuleInputError([f"{unknown[0]}: unknown field; a rule is sent as group, interval and rule"])
    group, interval, rule = body.get("group", "api"), body.get("interval"), body.get("rule")
    if not isinstance(rule, dict):
        raise RuleInputError(["rule: required: the rule as a mapping, as in a rule file"])
    try:
        parsed = RuleGroup.model_validate({"name": group, "interval": interval, "rules": [rule]})
    except ValidationError as exc:
        raise RuleInputError([_describe(err) for err in exc.errors()]) from None
    (model,) = parsed.rules
    if not isinstance(model, ScheduledRule):
        try:
            parse_filter(scoped_query(model.query, tenant))
        except QuerySyntaxError as exc:
            raise RuleInputError([f"rule.query: cannot be limited to the tenant's lines: {exc.message}"]) from None
    return RuleInput(str(group), interval_text(parsed.interval), rule, model, parsed.interval)


def _describe(err: ErrorDetails) -> str:
    loc = list(err["loc"])
    message, ctx = err["msg"], err.get("ctx", {})
    known = ", ".join(KNOWN_TYPES)
    if loc[:2] == ["rules", 0]:
        loc = ["rule", *loc[2:]]
        if len(loc) > 1 and loc[1] in KNOWN_TYPES:
            del loc[1]  # pydantic puts the union member's tag here; the body has no such level
    elif loc[:1] == ["name"]:
        loc = ["group"]
    if err["type"] == "union_tag_invalid":
        loc.append("type")
        message = f"unknown rule type '{ctx.get('tag')}': use one of {known}"
    elif err["type"] == "union_tag_not_found":
        loc.append("type")
        message = f"missing `type`: use one of {known}"
    elif err["type"] == "template_syntax":
        loc.append(ctx["key"])
    return f"{'.'.join(str(p) for p in loc)}: {message}"


def scoped_query(query: str, tenant: str) -> str:
    """A streaming rule's query limited to one tenant's lines."""
    return f'tenant:"{tenant}" AND ({query})'


def scoped(rule: Rule, tenant: str) -> Rule:
    """An API rule as the engine runs it: reading only its tenant's lines."""
    if isinstance(rule, ScheduledRule) or (isinstance(rule, AggregateRule) and rule.metric is not None):
        return rule.scoped(tenant)
    return rule.model_copy(update={"query": scoped_query(rule.query, tenant)})


def with_interval(rule: Rule, interval: timedelta | None) -> Rule:
    """A scheduled rule without its own `every` runs at its group's interval."""
    if isinstance(rule, ScheduledRule) and rule.every is None and interval is not None:
        copy = rule.model_copy(update={"every": interval})
        return copy.scoped(rule.tenant) if rule.tenant is not None else copy
    if isinstance(rule, AggregateRule) and rule.metric is not None and rule.every is None and interval is not None:
        runs = rule.model_copy(update={"every": interval})  # an aggregate over a metric runs on a schedule too
        return runs.scoped(rule.tenant) if rule.tenant is not None else runs
    return rule


def combined(files: RuleSet, api_rules: Sequence[ApiRule]) -> tuple[list[Rule], dict[str, str]]:
    """The enabled file rules, then the enabled API rules (scoped to their tenant) that no file rule shadows;
    and the shadowed API rules' names with the file rule that took each."""
    out = [with_interval(e.rule, e.interval) for e in files.entries if e.rule.enabled]
    by_name = files.by_name()
    shadowed = {}
    for api in api_rules:
        entry = by_name.get(api.name)
        if entry is not None:
            shadowed[api.name] = where(entry)
            continue
        try:
            made = check_api_rule({"group": api.group, "interval": api.interval, "rule": api.rule}, api.tenant)
        except RuleInputError as exc:  # valid when stored; a newer logwarden may refuse it
            log.error("rules: API rule %s of tenant %s is not valid any more: %s", api.name, api.tenant, exc)
            continue
        if made.rule.enabled:
            out.append(with_interval(scoped(made.rule, api.tenant), made.interval_value))
    return out, shadowed


# --- the service -----------------------------------------------------------------------------------------


@dataclass
class RulesService:
    """The rules of a server: files (`watcher`), API rules (`repository`), the engine and the scheduler."""

    config: Config
    engine: RulesEngine
    watcher: RulesWatcher | None = None
    repository: ApiRuleRepository | None = None
    scheduler: RuleScheduler | None = None
    task: asyncio.Task[None] | None = None
    api_rules: list[ApiRule] = field(default_factory=list)
    shadowed: dict[str, str] = field(default_factory=dict)
    """API rule name → the file rule that took its name (`rules/a.yaml:4`)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def file_rules(self) -> RuleSet:
        return self.watcher.ruleset if self.watcher is not None else RuleSet()

    def file_rule(self, name: str) -> RuleEntry | None:
        return self.file_rules.by_name().get(name)

    def visible_names(self, tenant: str) -> list[str]:
        """The rules a tenant sees: every file rule and its own API rules."""
        names = {e.rule.name for e in self.file_rules.entries}
        names.update(r.name for r in self.api_rules if r.tenant == tenant)
        return sorted(names)

    def specs(self) -> list[Rule]:
        """What the engine runs: the enabled file rules, then the enabled API rules no file rule shadows."""
        specs, shadowed = combined(self.file_rules, self.api_rules)
        for name in shadowed.keys() - self.shadowed.keys():
            log.error("rules: API rule %s is shadowed by the file rule of the same name at %s", name, shadowed[name])
        self.shadowed = shadowed
        return specs

    def apply(self) -> None:
        """Hand the current rules to the engine (unchanged rules keep their state). Blocking."""
        with self._lock:
            self.engine.set_rules(self.specs())

    def reload_api(self) -> bool:
        """Re-read the API rules and apply them when they changed. Blocking."""
        if self.repository is None:
            return False
        with self._lock:  # a request's reload and the poll's: the newest read is applied last
            found = self.repository.all()
            if found == self.api_rules:
                return False
            self.api_rules = found
            self.engine.set_rules(self.specs())
            return True

    async def run(self) -> None:
        """Watch the directory and the API rules, and run the scheduled rules, until cancelled."""
        parts = [self._watch()]
        if self.scheduler is not None:
            parts.append(self.scheduler.run())
        await asyncio.gather(*parts)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.rules.reload_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            changed = False
            if self.watcher is not None:
                try:
                    outcome = await loop.run_in_executor(None, self.watcher.check)
                except Exception:
                    log.exception("rules: reloading %s failed; the running rules stay", self.config.rules.dir)
                else:
                    for problem in outcome.errors:
                        log.error("rules: %s", problem)
                    if outcome.changed:
                        changed = True
                        log.info(
                            "rules reloaded: %d added, %d removed, %d changed",
                            len(outcome.added),
                            len(outcome.removed),
                            len(outcome.updated),
                        )
            try:
                if await loop.run_in_executor(None, self.reload_api):
                    changed = False  # applied with the file rules as they are now
            except Exception:
                log.exception("rules: reading the API rules failed; the running rules stay")
            if changed:
                await loop.run_in_executor(None, self.apply)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def where(entry: RuleEntry) -> str:
    return f"{entry.file}:{entry.line}" if entry.line is not None else entry.file


def interval_text(value: timedelta | None) -> str | None:
    return None if value is None else format_duration(value)


async def start_rules(
    config: Config,
    bus: BatchBus,
    meta: MetaDB | None = None,
    store: Store | None = None,
    *,
    history: HistoryReader | None = None,
    on_transition: Callable[..., None] | None = None,
) -> RulesService:
    """Load the file and API rules, add the engine to the bus (before `bus.start`), and start watching them and
    running the scheduled rules (`store`: where their queries run; without it they never run).

    The engine's state lives in the metadata database (`meta`; without it, a SQLite file of its own under
    `<data_dir>/rules/`); an old `<data_dir>/rules/state.sqlite` is moved into it first. `on_transition` is
    called after each committed transition (the alert router's wake-up)."""
    loop = asyncio.get_running_loop()
    watcher = None
    if config.rules.dir is not None:
        watcher = RulesWatcher(config.rules.dir, interval=config.rules.reload_interval.total_seconds())
        first = await loop.run_in_executor(None, lambda: watcher.check(force=True))
        for problem in first.errors:
            log.error("rules: %s", problem)
    repository = ApiRuleRepository(meta.engine) if meta is not None else None
    legacy = config.data_dir / STATE_DIR / LEGACY_FILE

    def open_engine() -> RulesService:
        state = SqlStateStore(meta.engine) if meta is not None else SqlStateStore.embedded(config.data_dir / STATE_DIR)
        import_legacy_state(legacy, state)
        api_rules = repository.all() if repository is not None else []
        # The rules go in with the engine: it restores their state from its checkpoint only when it opens.
        specs, _ = combined(watcher.ruleset if watcher is not None else RuleSet(), api_rules)
        engine = RulesEngine(
            state,
            specs,
            annotate=annotate,
            history=history,
            transition_gap=timedelta(milliseconds=250),
            on_transition=on_transition,
        )
        service = RulesService(config, engine, watcher, repository, api_rules=api_rules)
        service.specs()  # logs the shadowed API rules once
        return service

    service = await loop.run_in_executor(None, open_engine)
    bus.add(service.engine, lossless=True)
    if store is not None:
        service.scheduler = RuleScheduler(service.engine, store)
    log.info(
        "rules: %d from %s, %d through the API; %d evaluated",
        len(service.file_rules),
        config.rules.dir or "no rule directory",
        len(service.api_rules),
        len(service.engine.rule_names),
    )
    service.task = asyncio.create_task(service.run())
    return service
