"""Render the alerting settings reference (the generated part of docs/alerting.md) from the models' docstrings:
routes, inhibition rules, time intervals, delivery, and every channel's settings.

`python -m logwarden.alerting.docs --write docs/alerting.md` replaces the text between the markers; a test fails
when it is out of date.
"""

from __future__ import annotations

import inspect
import sys

from pydantic import BaseModel

from logwarden import settings_docs
from logwarden.alerting.config import DeliveryConfig, InhibitRule, Route, TimeInterval, TimeRange, TimeSpec
from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import NotifierConfig, RateLimit
from logwarden.model.units import format_duration
from logwarden.settings_docs import GeneratedSection, settings_table


def render() -> str:
    """The generated reference: routing, inhibition, time intervals, delivery, then every channel's settings."""
    out = ["### Route", "", *settings_table(Route), ""]
    out += ["### Inhibition rule (`inhibit_rules[]`)", "", *settings_table(InhibitRule), ""]
    out += ["### Time interval (`time_intervals[]`)", "", *settings_table(TimeInterval), ""]
    out += ["#### A period (`time_intervals[].time_intervals[]`)", "", *settings_table(TimeSpec), ""]
    out += ["#### A time range (`times[]`)", "", *settings_table(TimeRange), ""]
    out += ["### Delivery (`delivery`)", "", *settings_table(DeliveryConfig), ""]
    out += ["### Every channel", "", "Settings each integration of a receiver has, whatever its channel:", ""]
    out += [*settings_table(NotifierConfig), "", inspect.cleandoc(RateLimit.__doc__ or ""), ""]
    common = tuple(NotifierConfig.model_fields)
    for kind, notifier in NOTIFIERS.items():
        model = notifier.config_model
        out += [f"### `{kind}`", "", inspect.cleandoc(model.__doc__ or ""), ""]
        limit = notifier.default_rate_limit
        if limit is not None:
            out += [f"Default rate limit: {limit.count} per {format_duration(limit.per)}.", ""]
        out += [*settings_table(model, skip=common), ""]
    return "\n".join(out)


SECTION = GeneratedSection("logwarden.alerting.docs", "docs/alerting.md", render)
generated_part = SECTION.part


def undocumented() -> list[str]:
    """Settings without a docstring (a test keeps this empty)."""
    models: list[type[BaseModel]] = [Route, InhibitRule, TimeInterval, TimeSpec, TimeRange, DeliveryConfig]
    models += [NotifierConfig, *(n.config_model for n in NOTIFIERS.values())]
    return settings_docs.undocumented(models)


if __name__ == "__main__":
    SECTION.main(sys.argv[1:])
