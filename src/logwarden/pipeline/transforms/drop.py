"""`drop`: discard the lines it receives (use `if:` to choose them); the runner counts them."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa

from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig


class DropConfig(ProcessorConfig):
    """Drop lines: every line this step sees, so give it an `if:` (`if: "level:debug"`)."""

    type: Literal["drop"]

    def build(self, env: BuildEnv) -> Processor:
        return Drop()


class Drop(Processor):
    def process(self, batch: pa.Table) -> Processed:
        return Processed(batch.slice(0, 0))


CONFIGS = (DropConfig,)
