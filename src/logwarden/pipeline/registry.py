"""Every processor type, and the `type`-discriminated union the config validates against."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from logwarden.pipeline import copy, enrich, parsers, redact, route, transforms
from logwarden.pipeline.base import ProcessorConfig

PROCESSOR_CONFIGS: tuple[type[ProcessorConfig], ...] = (
    *parsers.CONFIGS,
    *transforms.CONFIGS,
    *enrich.CONFIGS,
    *redact.CONFIGS,
    *route.CONFIGS,
    *copy.CONFIGS,
)

if TYPE_CHECKING:
    ProcessorSpec = ProcessorConfig
else:
    ProcessorSpec = Annotated[Union[PROCESSOR_CONFIGS], Field(discriminator="type")]  # noqa: UP007
