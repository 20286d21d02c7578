"""Helpers for parser tests: build a processor from a config dict, run it on records or lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Union

import pyarrow as pa
from pydantic import Field, TypeAdapter

from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.parsers import CONFIGS
from logwarden.pipeline.runner import ERROR_FIELD

RECEIVED = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Annotated[Union[CONFIGS], Field(discriminator="type")])  # noqa: UP007


def build(settings: dict[str, Any], base_dir: Path | None = None) -> Processor:
    config: ProcessorConfig = _ADAPTER.validate_python(settings)
    return config.build(BuildEnv(base_dir or Path.cwd()))


def batch_of(records: list[dict[str, Any]]) -> pa.Table:
    return fields.wide_from_records(records, received=RECEIVED)


def lines(*texts: str) -> pa.Table:
    return batch_of([{"message": t} for t in texts])


def run(settings: dict[str, Any], batch: pa.Table) -> Processed:
    return build(settings).process(batch)


def rows(result: Processed) -> list[dict[str, Any]]:
    """Each row's non-null fields (internal and bookkeeping columns left out) plus its error, if any."""
    out = []
    errors = result.errors.to_pylist() if result.errors is not None else [None] * result.batch.num_rows
    for row, error in zip(result.batch.to_pylist(), errors, strict=True):
        record = {
            k: v
            for k, v in row.items()
            if v is not None and k not in ("observed_ts", "tenant", "source", "log_id", ERROR_FIELD)
        }
        if error is not None:
            record["error"] = error
        out.append(record)
    return out
