"""`sample`: keep a fraction of lines, chosen by a hash of a key so whole traces are kept or dropped together."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from logwarden.lazy import lazy_module
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")  # imported on first use (logwarden.lazy)

# Fixed seed: every process (and every restart) keeps the same keys.
_SEED = 0x6C6F6777
_SPACE = 2**64


class SampleConfig(ProcessorConfig):
    """Keep about `rate` of the lines; the choice is a deterministic hash of `key`."""

    type: Literal["sample"]
    rate: float = Field(gt=0, le=1)
    """Fraction of lines kept, e.g. 0.1 keeps one line in ten."""
    key: str | None = "trace_id"
    """Field whose value decides (all lines with the same value are kept or dropped together, on every
    logwarden instance); lines without it are sampled one by one, by `log_id`."""

    def build(self, env: BuildEnv) -> Processor:
        return Sample(self.rate, self.key)


class Sample(Processor):
    def __init__(self, rate: float, key: str | None) -> None:
        self.key = key
        self.threshold = min(int(rate * _SPACE), _SPACE - 1)
        self.keep_all = rate >= 1

    def process(self, batch: pa.Table) -> Processed:
        if self.keep_all:
            return Processed(batch)
        ids = fields.get_strings(batch, "log_id")
        assert ids is not None
        keys = fields.get_strings(batch, self.key) if self.key else None
        if keys is not None:
            # A separate prefix keeps a trace id from colliding with a log id.
            ids = pc.coalesce(pc.binary_join_element_wise("k:", keys, ""), ids)
        hashes = pl.Series(values=ids).hash(seed=_SEED)
        keep = (hashes < self.threshold).to_arrow()
        return Processed(batch.filter(keep))


CONFIGS = (SampleConfig,)
