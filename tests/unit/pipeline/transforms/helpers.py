"""Build processors from the config a user would write and run them on realistic wide batches."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import pyarrow as pa

from logwarden.pipeline import enrich, redact, transforms
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.fields import wide_from_records

_ALL: tuple[type[ProcessorConfig], ...] = (*transforms.CONFIGS, *enrich.CONFIGS, *redact.CONFIGS)
_BY_TYPE: dict[str, type[ProcessorConfig]] = {get_args(c.model_fields["type"].annotation)[0]: c for c in _ALL}


def parse_config(settings: dict[str, Any]) -> ProcessorConfig:
    """The config model for `settings["type"]`, validated as the registry would."""
    return _BY_TYPE[settings["type"]].model_validate(settings)


def build(settings: dict[str, Any], base_dir: Path | None = None) -> Processor:
    return parse_config(settings).build(BuildEnv(base_dir or Path.cwd()))


def run(settings: dict[str, Any], records: Sequence[dict[str, Any]] | pa.Table) -> Processed:
    """Build the processor and run it once on the records (as ingest would widen them)."""
    batch = records if isinstance(records, pa.Table) else wide_from_records(list(records))
    return build(settings).process(batch)


def rows(processed: Processed | pa.Table, *names: str) -> list[dict[str, Any]]:
    """The named fields of every output row (None where the column is missing)."""
    batch = processed.batch if isinstance(processed, Processed) else processed
    return [
        {n: (batch.column(n)[i].as_py() if n in batch.column_names else None) for n in names}
        for i in range(batch.num_rows)
    ]


def column(processed: Processed | pa.Table, name: str) -> list[Any]:
    batch = processed.batch if isinstance(processed, Processed) else processed
    return batch.column(name).to_pylist() if name in batch.column_names else [None] * batch.num_rows


def errors(processed: Processed) -> list[str | None]:
    if processed.errors is None:
        return [None] * processed.batch.num_rows
    return list(processed.errors.to_pylist())
