"""Transforms: rename, set/default (constants or templates), remove, convert, lowercase/uppercase,
level_map, drop, sample, dedup and labels."""

from __future__ import annotations

from logwarden.pipeline.base import ProcessorConfig
from logwarden.pipeline.transforms import case, convert, dedup, drop, labels, level_map, remove, rename, sample, set

CONFIGS: tuple[type[ProcessorConfig], ...] = (
    *rename.CONFIGS,
    *set.CONFIGS,
    *remove.CONFIGS,
    *convert.CONFIGS,
    *case.CONFIGS,
    *level_map.CONFIGS,
    *drop.CONFIGS,
    *sample.CONFIGS,
    *dedup.CONFIGS,
    *labels.CONFIGS,
)
