"""The log metrics inside a server: definitions gathered from the config, the series store opened under the data
directory, and the subscriber built (the app factory adds it to the bus and closes it with the bus)."""

from __future__ import annotations

import logging
from pathlib import Path

from logwarden.config.loader import ConfigError
from logwarden.config.logmetrics import DefinitionError, MetricDefinition, check_unique, load_dir
from logwarden.config.model import Config
from logwarden.logmetrics.aggregate import CompiledMetric, builtin_definitions
from logwarden.logmetrics.store import FileCompactor, SeriesStore
from logwarden.logmetrics.subscriber import LogMetricsSubscriber
from logwarden.logmetrics.user_definitions import UserDefinitions

log = logging.getLogger(__name__)


def definitions_of(config: Config) -> list[MetricDefinition]:
    """The built-in series (unless turned off), the config's definitions, those of `metrics.dir` and those made
    through the API (`<data_dir>/logmetrics/definitions.yaml`);
    DefinitionError (naming the file, the metric and the field) when one is wrong or two share a name."""
    section = config.metrics
    found = [*(builtin_definitions() if section.builtin else []), *section.definitions]
    if section.dir is not None:
        found += load_dir(section.dir)
    found += UserDefinitions.under(config.data_dir).load()  # those made through the API
    return check_unique(found, str(section.dir or "metrics"))


def checked_definitions(config: Config) -> list[MetricDefinition]:
    """`definitions_of(config)` with every query compiled: ConfigError (the CLI's "cannot start", exit 2) naming the
    file, the metric and the field of the first that is wrong. Empty when `metrics.enabled` is off."""
    if not config.metrics.enabled:
        return []
    try:
        found = definitions_of(config)
        for d in found:
            CompiledMetric(d, str(config.metrics.dir or "metrics"))
    except DefinitionError as exc:
        raise ConfigError(str(exc)) from None
    return found


class DirWatch:
    """`metrics.dir` as last read: `changed()` gives the definitions anew when a file was added, removed or
    rewritten since (name, size and modification time), else None. DefinitionError (the file, the metric and the
    field) when the new set is wrong: the caller keeps the one in force."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._seen = self._signature()

    def _signature(self) -> tuple[tuple[str, int, int], ...]:
        directory = self._config.metrics.dir
        if directory is None:
            return ()
        found = []
        for path in sorted([*Path(directory).glob("*.yaml"), *Path(directory).glob("*.yml")]):
            try:
                stat = path.stat()
            except OSError:  # removed while listed: the next look sees it gone
                continue
            found.append((path.name, stat.st_size, stat.st_mtime_ns))
        return tuple(found)

    def changed(self) -> list[MetricDefinition] | None:
        """The definitions in force after a change of `metrics.dir` (None: unchanged)."""
        now = self._signature()
        if now == self._seen:
            return None
        self._seen = now  # a wrong file is reported once, not at every look
        found = definitions_of(self._config)
        for d in found:
            CompiledMetric(d, str(self._config.metrics.dir))
        return found


def open_log_metrics(
    config: Config, definitions: list[MetricDefinition], compactor: FileCompactor | None = None
) -> LogMetricsSubscriber | None:
    """The subscriber of a server (None when `metrics.enabled` is off); `compactor` shrinks the series file at a
    clean stop. Blocking: run it off the event loop."""
    section = config.metrics
    if not section.enabled:
        return None
    store = SeriesStore.under(config.data_dir, section.retention, compactor, int(section.memory_limit))
    try:
        subscriber = LogMetricsSubscriber(
            store,
            definitions,
            commit_interval=section.commit_interval,
            compact_interval=section.compact_interval,
            remote_write=section.remote_write,
        )
    except BaseException:
        store.close()
        raise
    subscriber.user_definitions = UserDefinitions.under(config.data_dir)
    if section.dir is not None:
        subscriber.watch = DirWatch(config).changed
    log.info("log metrics: %d definitions (%s)", len(definitions), ", ".join(d.name for d in definitions))
    return subscriber
