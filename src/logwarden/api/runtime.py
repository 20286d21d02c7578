"""Everything a running server shares between requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from logwarden.alerting.service import AlertingService
from logwarden.api.errors import ApiError
from logwarden.auth.tenants import TENANT_HEADER, TenantRefusedError, request_tenant
from logwarden.bus.embedded import BatchBus
from logwarden.config.model import Config
from logwarden.ingest.backpressure import InflightBudget
from logwarden.ingest.sink import IngestSink
from logwarden.meta.db import MetaDB
from logwarden.outputs.tail import TailHub
from logwarden.pipeline.runner import PipelineSet
from logwarden.pipeline.status import ReloadStatus
from logwarden.rules.engine import RulesEngine
from logwarden.rules.service import RulesService
from logwarden.store.base import Store
from logwarden.telemetry.metrics import Metrics

__all__ = ["TENANT_HEADER", "Runtime", "runtime_of"]


@dataclass
class Runtime:
    config: Config
    metrics: Metrics
    budget: InflightBudget
    decode_pool: ThreadPoolExecutor
    store: Store | None = None
    sink: IngestSink | None = None
    ready: bool = False
    shutting_down: bool = False
    pipeline_status: ReloadStatus | None = None
    tail: TailHub = field(default_factory=TailHub)  # live-tail subscribers: the bus's lossy subscriber
    bus: BatchBus | None = None  # durable batches to subscribers (tail, copy outputs, rules)
    rules: RulesEngine | None = None  # the rules engine (always, once started)
    rule_service: RulesService | None = None  # file and API rules, the engine and the scheduler
    meta: MetaDB | None = None  # saved searches, rules made through the API, alert state and history
    alerting: AlertingService | None = None  # router, notification queue and delivery, silences, inhibition

    @property
    def silencer(self) -> Any:
        """The silences' muter (the silences API invalidates its cache after a change), or None."""
        return self.alerting.silencer if self.alerting is not None else None

    def install_pipelines(self, pipelines: PipelineSet) -> None:
        """Swap in a new pipeline set: batches that start from now on use it."""
        assert self.sink is not None
        self.sink.pipelines = pipelines

    def require_store(self) -> Store:
        """The store, or 503 while the server starts or stops."""
        if self.store is None or not self.ready:
            raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
        return self.store

    def require_sink(self) -> IngestSink:
        if self.sink is None or not self.ready:
            raise ApiError(503, "logwarden is starting or stopping; retry shortly", {"Retry-After": "1"})
        return self.sink

    def tenant(self, request: Request) -> str:
        """The request's tenant: its principal's (an admin may name another in X-Scope-OrgID; auth/tenants.py)."""
        try:
            return request_tenant(request, self.config)
        except TenantRefusedError as exc:
            raise ApiError(exc.status, exc.message) from None


def runtime_of(request: Request) -> Runtime:
    rt = request.app.state.runtime
    assert isinstance(rt, Runtime)
    return rt
