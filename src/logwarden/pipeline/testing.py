"""Running pipelines outside the server: sample input through `logwarden pipeline test`, and inline tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from logwarden.model.json_table import table_from_records
from logwarden.model.normalize import BatchContext, pack, widen
from logwarden.pipeline.config import PipelineConfig
from logwarden.pipeline.runner import PipelineSet, StepStats, concat_wide


@dataclass(slots=True)
class RunResult:
    """Lines as they would be stored, and what the pipelines did."""

    records: list[dict[str, Any]]
    lines_in: int
    dead_letters: int
    stats: list[StepStats] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return self.lines_in - len(self.records)


@dataclass(frozen=True, slots=True)
class CaseResult:
    pipeline: str
    name: str
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def records_from_lines(lines: Iterable[str], defaults: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Input lines as records: a JSON object line is a record, any other line is the message of one."""
    records = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        record: dict[str, Any] | None = None
        if line.lstrip().startswith("{"):
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                value = None
            record = value if isinstance(value, dict) else None
        if record is None:
            record = {"message": line}
        records.append({**(defaults or {}), **record})
    return records


def run_records(
    pipelines: PipelineSet, records: list[dict[str, Any]], *, tenant: str = "default", source: str = "http"
) -> RunResult:
    """Run records through the pipelines the way ingest does; returns them as search would show them."""
    if not records:
        return RunResult([], 0, 0)
    ctx = BatchContext(tenant=tenant, source=source, received=datetime.now(UTC))
    with pipelines.lease():
        out = pipelines.run(widen(table_from_records(records), ctx))
    # As ingest stores them: the kept lines, then the pipelines' dead letters.
    table = pack(concat_wide([out.batch, *out.dead_letters]) if out.dead_letters else out.batch)
    hits = [_as_hit(row) for row in table.to_pylist()]
    return RunResult(hits, len(records), sum(s.dead_lettered for s in out.stats), out.stats)


def run_cases(configs: list[PipelineConfig], pipelines: PipelineSet) -> list[CaseResult]:
    """Run every pipeline's inline tests; each input goes through all pipelines, as at ingest."""
    results = []
    for pc in configs:
        for i, case in enumerate(pc.tests):
            name = case.name or f"test {i + 1}"
            record = case.input if isinstance(case.input, dict) else {"message": case.input}
            out = run_records(pipelines, [record])
            problems: list[str] = []
            if case.expect_dropped:
                if out.records:
                    problems.append("expected the line to be dropped, but it was kept")
            elif not out.records:
                problems.append("the line was dropped")
            else:
                hit = out.records[0]
                for key, want in case.expect.items():
                    found, got = lookup(hit, key)
                    if not found:
                        problems.append(f"{key}: missing (expected {want!r})")
                    elif not same_value(want, got):
                        problems.append(f"{key}: expected {want!r}, got {got!r}")
                for key in case.expect_absent:
                    found, got = lookup(hit, key)
                    if found:
                        problems.append(f"{key}: expected absent, got {got!r}")
            results.append(CaseResult(pc.name, name, tuple(problems)))
    return results


def lookup(hit: dict[str, Any], name: str) -> tuple[bool, Any]:
    """A field of a hit by the name a user writes: core name, attribute key, or `attrs.<key>`."""
    attrs = hit.get("attrs") or {}
    if name.startswith("attrs."):
        key = name[6:]
        return (key in attrs), attrs.get(key)
    if name in hit and name != "attrs":
        return hit[name] is not None, hit[name]
    return (name in attrs), attrs.get(name)


def same_value(want: Any, got: Any) -> bool:
    if isinstance(got, datetime) and isinstance(want, str | datetime):
        expected = want if isinstance(want, datetime) else _parse_time(want)
        return expected is not None and expected == got
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    if isinstance(want, int | float) and isinstance(got, int | float):
        return float(want) == float(got)
    return bool(want == got)


def hit_json(hit: dict[str, Any]) -> bytes:
    """One output line of `logwarden pipeline test`."""
    return orjson.dumps(hit, default=str, option=orjson.OPT_UTC_Z)


def _parse_time(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _as_hit(row: dict[str, Any]) -> dict[str, Any]:
    attrs = row.pop("attrs", None)
    hit = {k: v for k, v in row.items() if v is not None}
    hit["attrs"] = orjson.loads(attrs) if attrs else {}
    return hit


__all__ = ["CaseResult", "RunResult", "records_from_lines", "run_cases", "run_records"]
