"""What a log metric is: its definition (YAML or config), checked once, before anything runs.

A definition names a search-language query (a filter, then optional line pipes — `extract`, `json`, `logfmt`,
`eval`, `where` — so a metric can count by an IP or sum a duration pulled from the message), a type, the
numeric field summed or distributed (not for counters) and label fields, with a cap on the label combinations
kept per tenant beyond which lines fall into the `other` series.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

from logwarden.model.units import Duration

NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.@-]*")
RESERVED_LABELS = frozenset({"tenant", "le", "quantile", "__name__"})
MetricType = Literal["counter", "sum", "histogram", "summary"]


class MetricDefinition(BaseModel):
    """One log metric (docs/metrics.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: str
    """Series name, `[a-zA-Z_][a-zA-Z0-9_]*`; a counter is exposed to Prometheus with `_total` appended
    (unless the name ends with it already)."""
    query: str = "*"
    """Search-language query selecting the lines (docs/query.md): a filter, then optional line pipes
    (`extract`, `json`, `logfmt`, `eval`, `where`) whose fields the labels and `field` may name."""
    type: MetricType = "counter"
    """`counter`: matching lines; `sum`: the sum of `field`; `histogram` / `summary`: the distribution of
    `field` (percentiles survive downsampling; Prometheus sees a histogram or a summary)."""
    field: str | None = Field(None, validate_default=True)
    """Numeric field for `sum`, `histogram` and `summary` (a stored attribute, a core column or a field a line
    pipe extracts); lines whose value is missing or no finite number are left out."""
    labels: list[str] = Field(default_factory=list)
    """Fields whose values label the series (every series also carries its `tenant`); a missing field is ""."""
    max_series: int = Field(1000, ge=1, le=1_000_000)
    """Most label combinations kept per tenant; lines with a new combination beyond it count in the series
    whose every label is `other`."""
    buckets: list[float] = Field(default_factory=lambda: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
    """`histogram` only: the `le` bounds shown to Prometheus (the stored distribution is finer: see docs)."""
    description: str = ""
    """Free text, shown as the `# HELP` line."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.fullmatch(v):
            raise ValueError(f"invalid metric name {v!r}: use letters, digits and '_', not starting with a digit")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        for label in v:
            if not LABEL_RE.fullmatch(label):
                raise ValueError(f"invalid label field {label!r}: use letters, digits and '_ . @ -'")
            if label in RESERVED_LABELS:
                raise ValueError(f"label field {label!r} is reserved (every series carries its tenant)")
        if len(set(v)) != len(v):
            raise ValueError("a label field is listed twice")
        return v

    @field_validator("field")
    @classmethod
    def _field_for_type(cls, v: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("type")
        if kind == "counter" and v is not None:
            raise ValueError("a counter counts lines: remove `field`, or use type sum/histogram/summary")
        if kind not in (None, "counter") and not v:
            raise ValueError(f"type {kind} needs `field`: the numeric field to aggregate")
        return v

    @field_validator("buckets")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if sorted(v) != v or len(set(v)) != len(v):
            raise ValueError("buckets must be increasing")
        return v

    @property
    def exposed_name(self) -> str:
        """The name Prometheus sees (counters end in `_total`)."""
        if self.type == "counter" and not self.name.endswith("_total"):
            return self.name + "_total"
        return self.name


class DefinitionError(ValueError):
    """A metric definition that cannot be used; the message names the file, the metric and the field."""


def _where(source: str, index: int, name: object, loc: tuple[object, ...]) -> str:
    metric = f"metric {name!r}" if isinstance(name, str) else f"metric #{index + 1}"
    field = ".".join(str(p) for p in loc)
    return f"{source}: {metric}" + (f", field {field}" if field else "")


def parse_definitions(raw: object, source: str) -> list[MetricDefinition]:
    """Definitions from parsed YAML (`{metrics: [...]}` or a bare list); DefinitionError names what is wrong."""
    items = raw.get("metrics") if isinstance(raw, dict) else raw
    if items is None:
        return []
    if not isinstance(items, list):
        raise DefinitionError(f"{source}: expected a list of metrics (or `metrics:` with a list)")
    out: list[MetricDefinition] = []
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        try:
            out.append(MetricDefinition.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{_where(source, i, name, tuple(e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors(include_url=False)
            )
            raise DefinitionError(problems) from None
    return out


def load_dir(directory: Path) -> list[MetricDefinition]:
    """Every `*.yaml` / `*.yml` file of `directory`, in name order."""
    out: list[MetricDefinition] = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise DefinitionError(f"{path}: not valid YAML: {exc}") from None
        out.extend(parse_definitions(raw, str(path)))
    return out


def check_unique(definitions: list[MetricDefinition], source: str = "metrics") -> list[MetricDefinition]:
    """`definitions`, refusing two with one name (or a name the built-in series use)."""
    seen: set[str] = set()
    for d in definitions:
        if d.name in seen:
            raise DefinitionError(f"{source}: metric {d.name!r} is defined twice")
        seen.add(d.name)
    return definitions


class RemoteWriteConfig(BaseModel):
    """Prometheus remote-write of the log metrics (docs/metrics.md): every series pushed, as cumulative counters,
    to `url` (Prometheus with `--web.enable-remote-write-receiver`, Mimir, Thanos receive, VictoriaMetrics…)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    url: str = Field(pattern=r"^https?://")
    """Endpoint of the remote-write receiver, e.g. `http://prometheus:9090/api/v1/write`."""
    interval: Duration = Field(timedelta(seconds=10), gt=timedelta(0))
    """How often the series changed since the last push are sent (one sample per series and push)."""
    timeout: Duration = Field(timedelta(seconds=10), gt=timedelta(0))
    """Longest wait for one request's answer."""
    max_backoff: Duration = Field(timedelta(seconds=60), gt=timedelta(0))
    """Longest wait between two attempts after a 5xx, a 429 or no answer (the wait doubles from 0.5 s)."""
    bearer_token: SecretStr | None = None
    """Sent as `Authorization: Bearer …` when set."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Further request headers (e.g. `X-Scope-OrgID` for Mimir)."""
    max_pending_rows: int = Field(2_000_000, ge=1000)
    """Most committed point rows kept waiting while the endpoint is unreachable; beyond it the oldest are folded
    into the totals unsent (counted as dropped), so the counters stay right and the disk bounded."""
