"""The ASGI application: routes, error handlers, and the lifespan that opens and closes the store."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route

from logwarden.alerting.metrics import AlertingCollector
from logwarden.alerting.service import open_alerting
from logwarden.api import openapi
from logwarden.api.errors import (
    ApiError,
    api_error_handler,
    http_exception_handler,
    store_memory_handler,
    unexpected_error_handler,
)
from logwarden.api.routes import admin_delete, context, export, health, saved_searches, search, trace
from logwarden.api.routes import alerting as alerting_routes
from logwarden.api.routes import alerts as alert_routes
from logwarden.api.routes import backtest as backtest_routes
from logwarden.api.routes import dashboards as dashboard_routes
from logwarden.api.routes import logmetrics as log_metric_routes
from logwarden.api.routes import oidc as oidc_routes
from logwarden.api.routes import patterns as pattern_routes
from logwarden.api.routes import pipelines as pipeline_routes
from logwarden.api.routes import query as query_routes
from logwarden.api.routes import rules as rule_routes
from logwarden.api.routes import silences as silence_routes
from logwarden.api.routes import sql as sql_routes
from logwarden.api.routes import tail as tail_routes
from logwarden.api.runtime import Runtime
from logwarden.auth import routes as auth_routes
from logwarden.auth.wiring import protect
from logwarden.bus.base import LosslessSubscriber
from logwarden.bus.cursors import BUS_DIR, CursorFiles
from logwarden.bus.embedded import BatchBus
from logwarden.bus.metrics import BusCollector
from logwarden.config.loader import ConfigError
from logwarden.config.model import Config
from logwarden.config.pipelines import build_pipelines, load_root
from logwarden.config.reload import PipelineReloader
from logwarden.console import routes as console_routes
from logwarden.ingest.attr_limits import attr_limits_for
from logwarden.ingest.backpressure import InflightBudget
from logwarden.ingest.base import BackgroundSource
from logwarden.ingest.http import routes as ingest_routes
from logwarden.ingest.http.es_probes import elasticsearch_routes
from logwarden.ingest.sink import IngestSink
from logwarden.ingest.sources import build_sources
from logwarden.ingest.time_window import window_for
from logwarden.logmetrics.service import checked_definitions, open_log_metrics
from logwarden.memory import MemoryCollector
from logwarden.meta.db import MetaDB, default_url
from logwarden.outputs.copy import CopyOutputs
from logwarden.patterns.miner import PatternMiner
from logwarden.patterns.recorder import PatternRecorder
from logwarden.patterns.store import PatternStore
from logwarden.pipeline.runner import PipelineSet
from logwarden.pipeline.status import ReloadStatus
from logwarden.rules.history import StoreHistory
from logwarden.rules.metrics import RulesCollector
from logwarden.rules.service import start_rules
from logwarden.store import archive_encryption
from logwarden.store.base import StoreMemoryError
from logwarden.store.duckdb import DuckDBStore, compact
from logwarden.telemetry.metrics import Metrics
from logwarden.threads import name_current_thread

log = logging.getLogger(__name__)


def create_app(
    config: Config,
    *,
    run_maintenance: bool = True,
    config_path: Path | None = None,
    pipelines: PipelineSet | None = None,
    subscribers: Sequence[LosslessSubscriber] = (),
) -> Starlette:
    """Build the app; the store opens in the lifespan, so /healthz answers while it replays its WAL.

    `config_path` is watched for pipeline changes; `pipelines` are the built `config.pipelines` (built
    here when not given; ConfigError when they cannot be). `subscribers` are extra lossless bus subscribers
    (embedding applications and tests; the server's own — copy outputs, later rules — are built here).
    """
    if pipelines is None:
        pipelines = build_pipelines(
            config.pipelines,
            source=str(config_path or "<config>"),
            root=load_root(config_path),
            base_dir=config_path.parent if config_path else None,
        )
    metric_definitions = checked_definitions(config)  # a wrong log metric stops the start here (ConfigError)
    try:
        archive_encryption.from_config(config.archive.encryption)  # a missing or malformed key stops it here too
    except ValueError as exc:
        raise ConfigError(f"{config_path or 'the configuration'}: {exc}") from None
    metrics = Metrics()
    runtime = Runtime(
        config=config,
        metrics=metrics,
        budget=InflightBudget(config.ingest.max_inflight_bytes),
        decode_pool=ThreadPoolExecutor(
            config.ingest.decode_threads,
            thread_name_prefix="logwarden-decode",
            initializer=name_current_thread,
            initargs=("lw-decode",),
        ),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        alerting_collector: AlertingCollector | None = None
        # The bus first: its cursors say which parts of the ingest log the store must keep while recovering.
        bus = BatchBus(
            CursorFiles(config.data_dir / BUS_DIR),
            max_lag_bytes=config.bus.max_lag_bytes,
            memory_bytes=config.bus.memory_bytes,
        )
        runtime.bus = bus
        runtime.store = await loop.run_in_executor(
            None,
            lambda: DuckDBStore(
                config, on_commit=metrics.observe_commit, on_apply=metrics.observe_apply, consumers=bus
            ),
        )
        runtime.sink = IngestSink(
            runtime.store, metrics, runtime.decode_pool, window_for=functools.partial(window_for, config)
        )
        runtime.sink.pipelines = pipelines
        runtime.sink.miner = PatternMiner.from_config(config.patterns)
        runtime.sink.attr_limits = attr_limits_for(config)
        sink = runtime.sink
        metrics.watch_pipelines(lambda: sink.pipelines)
        # The bus: live tail (lossy), copy outputs and extra subscribers (lossless); lossless ones first
        # replay what they missed while the server was down.
        bus_collector = BusCollector(bus)
        metrics.registry.register(bus_collector)
        memory_collector = MemoryCollector(runtime.store.memory_bytes)
        metrics.registry.register(memory_collector)
        outputs = CopyOutputs(bus)
        bus.add(runtime.tail, lossless=False)
        outputs.sync(pipelines)
        for subscriber in subscribers:
            bus.add(subscriber, lossless=True)
        # The metadata database before the rules: their state, history and API rules live there.
        runtime.meta = meta = await loop.run_in_executor(None, MetaDB, config.meta_url or default_url(config.data_dir))
        # Always on, so a rule made through the API applies at once (an engine without rules costs next to nothing).
        # Rules that start from stored history (new_value) read it through the store, on this loop.
        history = StoreHistory(runtime.store, loop)
        # Alerting before the rules: the engine wakes the router after each commit of a transition.
        alerting = await loop.run_in_executor(
            None,
            lambda: open_alerting(
                config.alerting, meta.engine, external_url=config.alerting.external_url or _base_url(config)
            ),
        )
        runtime.alerting = alerting
        rules = await start_rules(
            config, bus, runtime.meta, runtime.store, history=history, on_transition=alerting.wake
        )
        alerting.start()
        alerting_collector = AlertingCollector(alerting)
        metrics.registry.register(alerting_collector)
        runtime.rules, runtime.rule_service, rules_task = rules.engine, rules, rules.task
        rules_collector = RulesCollector(runtime.rules)
        metrics.registry.register(rules_collector)
        # Log metrics: a lossless subscriber beside the rules; the bus closes it when the store stops it.
        log_metrics = await loop.run_in_executor(None, open_log_metrics, config, metric_definitions, compact)
        if log_metrics is not None:
            bus.add(log_metrics, lossless=True)
        app.state.log_metrics = log_metrics
        if rules.scheduler is not None:
            rules.scheduler.series = log_metrics  # `aggregate` rules with `metric` read its series
        # Pattern totals and counts: a lossless subscriber; the miner first gets back the templates it knew.
        app.state.patterns = None
        if runtime.sink.miner is not None:
            pattern_recorder = PatternRecorder(
                PatternStore(meta.engine), runtime.sink.miner, retention_for=config.retention_days_for
            )
            await loop.run_in_executor(None, pattern_recorder.restore_miner)
            # A new or lost pattern store is rebuilt from the lines kept (retention), keeping their ids.
            now = datetime.now(UTC)
            longest = [config.store.retention_days, *config.store.retention_classes.values()]
            longest += [t.retention_days for t in config.store.tenants.values() if t.retention_days]
            keep = timedelta(days=max(longest))
            await loop.run_in_executor(None, pattern_recorder.rebuild, history, now - keep, now + timedelta(days=1))
            bus.add(pattern_recorder, lossless=True)
            app.state.patterns = pattern_recorder
        bus.start()

        def install(new: PipelineSet) -> None:
            # Outputs first: a batch the new pipelines mark must find its output on the bus.
            outputs.sync(new)
            runtime.install_pipelines(new)

        reloader = None
        reload_task = None
        if config_path is not None:
            reloader = PipelineReloader(
                config_path,
                pipelines,
                install,
                interval=config.reload_interval.total_seconds(),
                on_outcome=lambda outcome: metrics.pipeline_reloads.labels(outcome).inc(),
                on_config=lambda new: alerting.reload(new.alerting),
                live_sections=("alerting",),
            )
            runtime.pipeline_status = reloader.status
            reload_task = asyncio.create_task(reloader.run())
            app.state.reload_config = reloader.trigger  # what SIGHUP does; the server chains its TLS reload to it
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                # Only possible in the main thread (the real server; not in-process test clients).
                loop.add_signal_handler(signal.SIGHUP, reloader.trigger)
        else:
            runtime.pipeline_status = ReloadStatus(None)
            runtime.pipeline_status.describe(pipelines)
        hot, archived = runtime.store.partitions()
        log.info("store open: %d hot and %d archived partitions in %s", len(hot), len(archived), config.data_dir)
        sources = build_sources(config)
        for source in sources:
            from logwarden.ingest.kafka.source import KafkaSource  # here: only a Kafka config needs it

            if isinstance(source, KafkaSource):
                metrics.watch_kafka(source.stats, source.name)
        started: list[BackgroundSource] = []
        try:
            for source in sources:
                await source.start(runtime.sink)
                started.append(source)
                log.info("source %s started", source.name)
        except BaseException:
            for source in reversed(started):
                await source.stop()
            await runtime.store.close()
            runtime.meta.close()
            raise
        runtime.ready = True
        stop_maintenance = asyncio.Event()
        task = asyncio.create_task(_maintenance_loop(runtime, stop_maintenance)) if run_maintenance else None
        try:
            yield
        finally:
            runtime.shutting_down = True
            runtime.tail.close()  # live-tail streams end first, so they never hold up shutdown
            sql_routes.close_sandbox(app)  # spare SQL worker processes
            for source in reversed(started):
                # Stop receiving first; what a source already received still goes through the sink.
                await source.stop()
            # A maintenance pass in flight finishes (it holds the writer); only the wait between passes ends.
            stop_maintenance.set()
            if task is not None:
                await task
            if reload_task is not None:
                reload_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reload_task
            if rules_task is not None:
                rules_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rules_task
            await runtime.store.close()  # stops the bus: the rules engine commits and closes
            app.state.log_metrics = None  # closed with the bus: its routes answer 503 from now on
            if runtime.alerting is not None:
                await loop.run_in_executor(None, runtime.alerting.stop)
            if alerting_collector is not None:
                metrics.registry.unregister(alerting_collector)
            metrics.registry.unregister(bus_collector)
            metrics.registry.unregister(memory_collector)
            if rules_collector is not None:
                metrics.registry.unregister(rules_collector)
            if runtime.meta is not None:
                runtime.meta.close()
            if reloader is not None:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signal.SIGHUP)
                await reloader.close()
            else:
                pipelines.close()
            runtime.ready = False
            runtime.decode_pool.shutdown(wait=True)
            log.info("store closed cleanly")

    app = Starlette(
        routes=[
            Route("/healthz", health.healthz, methods=["GET"]),
            Route("/readyz", health.readyz, methods=["GET"]),
            Route("/metrics", health.metrics, methods=["GET"]),
            *log_metric_routes.routes(),
            Route("/api/v1/search", search.search, methods=["GET"]),
            Route("/api/v1/stats/count", search.count, methods=["GET"]),
            Route("/api/v1/export", export.export, methods=["GET"]),
            *query_routes.routes(),
            *pattern_routes.routes(),
            Route("/api/v1/pipelines", pipeline_routes.status, methods=["GET"]),
            Route("/api/v1/sql", sql_routes.sql, methods=["POST"]),
            Route("/api/v1/context/{log_id}", context.context, methods=["GET"]),
            Route("/api/v1/trace/{trace_id}", trace.trace, methods=["GET"]),
            Route("/api/v1/tail", tail_routes.tail, methods=["GET"]),
            Route("/api/v1/rules/backtest", backtest_routes.backtest_rule, methods=["POST"]),
            Route("/api/v1/rules", rule_routes.list_or_create, methods=["GET", "POST"]),
            Route("/api/v1/rules/{name}", rule_routes.item, methods=["GET", "PUT", "DELETE"]),
            Route("/api/v1/silences", silence_routes.list_or_create, methods=["GET", "POST"]),
            Route("/api/v1/silences/{silence_id}", silence_routes.item, methods=["GET", "PUT", "DELETE"]),
            Route("/api/v1/alerts", alert_routes.alerts, methods=["GET"]),
            Route("/api/v1/alerts/history", alert_routes.history, methods=["GET"]),
            Route("/api/v1/alerts/groups", alerting_routes.groups, methods=["GET"]),
            Route("/api/v1/alerts/{fingerprint}/ack", alerting_routes.ack, methods=["POST"]),
            Route("/api/v1/alerts/{fingerprint}/ack", alerting_routes.unack, methods=["DELETE"]),
            Route("/api/v1/receivers", alerting_routes.receivers, methods=["GET"]),
            Route("/api/v1/receivers/{name}/test", alerting_routes.test_receiver, methods=["POST"]),
            Route("/api/v1/alerting/config", alerting_routes.get_config, methods=["GET"]),
            Route("/api/v1/alerting/config", alerting_routes.put_config, methods=["PUT"]),
            Route("/api/v1/alerting/config", alerting_routes.delete_config, methods=["DELETE"]),
            Route("/api/v1/saved-searches", saved_searches.list_or_create, methods=["GET", "POST"]),
            Route("/api/v1/saved-searches/{search_id}", saved_searches.item, methods=["GET", "PUT", "DELETE"]),
            Route("/api/v1/dashboards", dashboard_routes.list_or_create, methods=["GET", "POST"]),
            Route("/api/v1/dashboards/{dashboard_id}", dashboard_routes.item, methods=["GET", "PUT", "DELETE"]),
            Route(openapi.OPENAPI_PATH, openapi.openapi_json, methods=["GET"]),
            *auth_routes.routes(),  # login, logout, me, audit, users, keys
            *oidc_routes.routes(),  # login through an OpenID Connect provider (auth.oidc)
            *admin_delete.routes(),  # GDPR delete
            # The console owns GET / (it hands Elasticsearch clients to the emulation) and its static files.
            *console_routes(),
            # The whole Elasticsearch API under /es too, so shippers can use http://host:8080/es.
            Mount("/es", routes=elasticsearch_routes()),
            # Last: the Elasticsearch emulation answers single-segment paths such as HEAD /{index}.
            *ingest_routes(),
        ],
        exception_handlers={
            ApiError: api_error_handler,
            HTTPException: http_exception_handler,
            StoreMemoryError: store_memory_handler,
            Exception: unexpected_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    protect(app, config, lambda: runtime.meta)  # one principal per request; every route gated (auth/permissions.py)
    return app


async def _maintenance_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    interval = runtime.config.store.maintenance_interval.total_seconds()
    while not stop.is_set():
        try:
            assert runtime.store is not None
            report = await runtime.store.maintain()
            if report.archived or report.dropped_hot or report.dropped_archive:
                log.info(
                    "maintenance: archived %s, dropped hot %s, dropped archive %s",
                    report.archived,
                    report.dropped_hot,
                    report.dropped_archive,
                )
            runtime.metrics.maintenance_runs.labels("ok").inc()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("maintenance pass failed; retrying next interval")
            runtime.metrics.maintenance_runs.labels("error").inc()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def _base_url(config: Config) -> str:
    """Where this server is reached when `alerting.external_url` is unset (links in notifications)."""
    host = config.http.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{config.http.port}"
