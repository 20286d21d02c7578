"""`copy`: send the lines a pipeline step sees (usually with `if:`) to a second sink — an HTTP endpoint or a
Kafka topic — once they are durable.

The step itself only marks its rows (an internal `__copy_to` column naming its output). The batch bus
hands every durable, deduplicated batch to the output of that name (`outputs/copy.py`, a lossless bus
subscriber), which ships the marked rows as they were stored. So a line is copied only once it is
acknowledged, a client's retry after a 429 or 503 is copied once, and a restart resumes at the output's
cursor; each line carries its `log_id` (and Kafka messages are keyed by it) so a receiver can drop the
few lines a crash may send twice.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, SecretStr

from logwarden.model.attrs_json import encode_objects
from logwarden.model.normalize import pack
from logwarden.model.units import Duration
from logwarden.pipeline.base import (
    BuildEnv,
    FrozenSettings,
    Processed,
    Processor,
    ProcessorBuildError,
    ProcessorConfig,
)

log = logging.getLogger(__name__)


class HttpSinkConfig(FrozenSettings):
    type: Literal["http"]
    """`http`: POST batches of copies to a URL."""
    url: str = Field(pattern=r"^https?://")
    """Endpoint that receives POSTs of NDJSON (one line per log line; logwarden's own ingest API works)."""
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Extra request headers (e.g. Authorization); kept secret in logs."""
    timeout: Duration = timedelta(seconds=5)
    """Per-request timeout."""


class KafkaSinkConfig(FrozenSettings):
    type: Literal["kafka"]
    """`kafka`: produce copies to a topic (needs the `kafka` extra)."""
    topic: str = Field(min_length=1)
    """Topic the copies are produced to (one JSON message per line, keyed by log_id)."""
    brokers: str = Field(min_length=1)
    """Bootstrap servers, `host:port[,host:port]`."""
    settings: dict[str, str] = Field(default_factory=dict)
    """Extra librdkafka producer settings (security.protocol, sasl.*…)."""


SinkSpec = Annotated[HttpSinkConfig | KafkaSinkConfig, Field(discriminator="type")]


MARK_COLUMN = "__copy_to"  # internal: `\x1f<output>\x1f<output>\x1f` for the outputs a row goes to
_SEP = "\x1f"


class CopyConfig(ProcessorConfig):
    """Copy lines (usually with `if:`) to a second sink once they are stored; the lines themselves continue
    unchanged. Delivery is lossless: a failing sink is retried with backoff, and if it stays down long
    enough for its output to fall `bus.max_lag_bytes` behind, ingest pushes back (429) until it recovers."""

    type: Literal["copy"]
    to: SinkSpec
    """Where copies go: `{type: http, url: …}` or `{type: kafka, topic: …, brokers: …}`."""
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
    """Name of the output (its bus cursor, metrics label and `<data_dir>/bus/copy.<name>.cursor`); steps with
    one name share one output. Default: derived from the destination, so reordering steps keeps the cursor."""
    batch_lines: int = Field(1_000, ge=1)
    """Copies sent per request or per producer flush."""
    queue_lines: int | None = Field(None, ge=1)
    """Deprecated and ignored: copies no longer wait in a memory queue (they are read from the ingest log)."""
    retries: int | None = Field(None, ge=0)
    """Deprecated and ignored: a failed delivery is retried with backoff until it succeeds."""

    @property
    def output_name(self) -> str:
        """The bus subscriber that ships this step's copies."""
        if self.name:
            return f"copy.{self.name}"
        to = self.to
        target = to.url if isinstance(to, HttpSinkConfig) else f"kafka:{to.brokers}/{to.topic}"
        return "copy." + hashlib.sha256(target.encode()).hexdigest()[:12]

    def build(self, env: BuildEnv) -> Processor:
        for old in ("queue_lines", "retries"):
            if getattr(self, old) is not None:
                log.warning("copy: `%s` is deprecated and ignored (copies are shipped from the ingest log)", old)
        if isinstance(self.to, KafkaSinkConfig):
            try:
                import confluent_kafka  # noqa: F401
            except ImportError:
                raise ProcessorBuildError("to", "the kafka copy sink needs `pip install 'logwarden[kafka]'`") from None
        return Copy(self)


@dataclass(slots=True)
class CopyStats:
    """Lines an output shipped, and lines in deliveries that failed (each retried until it succeeds)."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0  # always 0: copies are lossless (kept for the metric's `dropped` outcome)


_STATS: dict[str, CopyStats] = {}


def stats_for(output: str) -> CopyStats:
    """The counters of one output, shared by its steps and its bus subscriber (they outlive reloads)."""
    return _STATS.setdefault(output, CopyStats())


class Copy(Processor):
    """Marks the rows it sees for its output; the output ships them once stored."""

    def __init__(self, config: CopyConfig) -> None:
        self.config = config
        self.output = config.output_name
        self.stats = stats_for(self.output)

    @property
    def sent(self) -> int:
        return self.stats.sent

    @property
    def failed(self) -> int:
        return self.stats.failed

    @property
    def dropped(self) -> int:
        return self.stats.dropped

    def process(self, batch: pa.Table) -> Processed:
        return Processed(mark(batch, self.output))


def mark(batch: pa.Table, output: str) -> pa.Table:
    """`batch` with every row marked for `output` (vectorized; other outputs' marks are kept)."""
    token = f"{output}{_SEP}"
    if MARK_COLUMN not in batch.column_names:
        return batch.append_column(MARK_COLUMN, pa.repeat(pa.scalar(_SEP + token), batch.num_rows))
    old = batch.column(MARK_COLUMN)
    already = pc.fill_null(pc.match_substring(old, _SEP + token), False)
    joined = pc.binary_join_element_wise(pc.coalesce(old, pa.scalar(_SEP)), pa.scalar(token), "")
    i = batch.column_names.index(MARK_COLUMN)
    return batch.set_column(i, MARK_COLUMN, pc.if_else(already, old, joined))


def marked_for(table: pa.Table, output: str) -> pa.Array:
    """Which rows of a stored batch are marked for `output`."""
    if MARK_COLUMN not in table.column_names:
        return pa.repeat(pa.scalar(False), table.num_rows)
    return pc.fill_null(pc.match_substring(table.column(MARK_COLUMN).combine_chunks(), f"{_SEP}{output}{_SEP}"), False)


def ndjson_lines(batch: pa.Table) -> list[bytes]:
    """Each line of a wide or stored batch as one JSON object (core fields, `attrs` as an object)."""
    if "attrs" in batch.column_names and "pattern_id" in batch.column_names:
        core = batch  # already the stored schema
    else:
        core = pack(batch.select([c for c in batch.column_names if c != "__row"]))
    iso = "%Y-%m-%dT%H:%M:%SZ"
    columns = {
        name: pc.strftime(core.column(name), iso) if name in ("ts", "observed_ts") else core.column(name)
        for name in ("ts", "observed_ts", "tenant", "service", "host", "level", "message", "trace_id", "span_id")
    }
    columns.update({name: core.column(name) for name in ("source", "log_id")})
    objects = encode_objects({k: v.combine_chunks() for k, v in columns.items()}, core.num_rows)
    attrs = core.column("attrs").combine_chunks()
    with_attrs = pc.binary_join_element_wise(pc.utf8_slice_codeunits(objects, 0, -1), ',"attrs":', attrs, "}", "")
    texts = pc.coalesce(with_attrs, objects)
    return [t.encode() for t in texts.to_pylist()]


__all__ = ["CONFIGS", "MARK_COLUMN", "Copy", "CopyConfig", "CopyStats", "mark", "marked_for", "ndjson_lines"]

CONFIGS = (CopyConfig,)
