"""Render the alerting settings reference (the generated part of docs/alerting.md) from the models' docstrings:
routes, inhibition rules, time intervals, delivery, and every channel's settings.

`python -m logwarden.alerting.docs --write docs/alerting.md` replaces the text between the markers; a test fails
when it is out of date.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from logwarden.alerting.config import DeliveryConfig, InhibitRule, Route, TimeInterval, TimeRange, TimeSpec
from logwarden.alerting.notifiers import NOTIFIERS
from logwarden.alerting.notifiers.base import NotifierConfig, RateLimit
from logwarden.model.units import format_duration

BEGIN = "<!-- BEGIN GENERATED: python -m logwarden.alerting.docs --write docs/alerting.md -->"
END = "<!-- END GENERATED -->"


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{json.dumps(value, default=str)}`"


def _table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        doc = (field.description or "").replace("\n", " ").replace("|", "\\|")
        rows.append(f"| `{field.alias or name}` | {_default(field)} | {doc} |")
    return rows


def render() -> str:
    out = ["### Route", "", *_table(Route), ""]
    out += ["### Inhibition rule (`inhibit_rules[]`)", "", *_table(InhibitRule), ""]
    out += ["### Time interval (`time_intervals[]`)", "", *_table(TimeInterval), ""]
    out += ["#### A period (`time_intervals[].time_intervals[]`)", "", *_table(TimeSpec), ""]
    out += ["#### A time range (`times[]`)", "", *_table(TimeRange), ""]
    out += ["### Delivery (`delivery`)", "", *_table(DeliveryConfig), ""]
    out += ["### Every channel", "", "Settings each integration of a receiver has, whatever its channel:", ""]
    out += [*_table(NotifierConfig), "", inspect.cleandoc(RateLimit.__doc__ or ""), ""]
    common = tuple(NotifierConfig.model_fields)
    for kind, notifier in NOTIFIERS.items():
        model = notifier.config_model
        out += [f"### `{kind}`", "", inspect.cleandoc(model.__doc__ or ""), ""]
        limit = notifier.default_rate_limit
        if limit is not None:
            out += [f"Default rate limit: {limit.count} per {format_duration(limit.per)}.", ""]
        out += [*_table(model, skip=common), ""]
    return "\n".join(out)


def generated_part(text: str) -> str | None:
    match = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1) if match else None


def undocumented() -> list[str]:
    """Settings without a docstring (a test keeps this empty)."""
    models: list[type[BaseModel]] = [Route, InhibitRule, TimeInterval, TimeSpec, TimeRange, DeliveryConfig]
    models += [NotifierConfig, *(n.config_model for n in NOTIFIERS.values())]
    return [f"{m.__name__}.{n}" for m in models for n, f in m.model_fields.items() if not f.description]


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "--write":
        path = Path(argv[1])
        text = path.read_text(encoding="utf-8")
        if generated_part(text) is None:
            raise SystemExit(f"{path}: no generated-section markers")
        start, end = text.index(BEGIN) + len(BEGIN) + 1, text.index(END)
        path.write_text(text[:start] + render() + text[end:], encoding="utf-8")
    else:
        print(render())


if __name__ == "__main__":
    main(sys.argv[1:])
