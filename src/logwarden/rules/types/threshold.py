"""`threshold`: the count of matching lines per group over a sliding window, compared with a threshold
(ElastAlert's *frequency* and *any*)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from logwarden.rules.count import CountRule
from logwarden.rules.model import Rule


class ThresholdRule(Rule):
    """Fires for a group when more than `threshold` matching lines fall in its window."""

    type: Literal["threshold"] = "threshold"
    """`threshold`."""
    threshold: float = Field(ge=0)
    """The alert fires when the count in the window is greater than this."""
    resolve_below: float | None = None
    """Hysteresis: once firing, the alert resolves only when the count is at or below this (at most
    `threshold`; default: as soon as the count is no longer above `threshold`)."""

    @field_validator("resolve_below")
    @classmethod
    def _at_most_threshold(cls, value: float | None, info: ValidationInfo) -> float | None:
        threshold = info.data.get("threshold")
        if value is not None and threshold is not None and value > threshold:
            raise PydanticCustomError(
                "resolve_below", "must be at most threshold ({threshold})", {"threshold": f"{threshold:g}"}
            )
        return value

    def evaluator(self) -> CountRule:
        return CountRule(self)
