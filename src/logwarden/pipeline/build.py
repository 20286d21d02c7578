"""Build a PipelineSet from the `pipelines:` shapes; a step that cannot be built raises PipelineBuildError.

The pipeline layer does not read config files: the error carries the location of the offending setting
inside the pipelines list, and the config layer (`config.pipelines`), which knows the file and its YAML
nodes, turns it into a ConfigError naming the file and line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from logwarden.pipeline.base import BuildEnv, ProcessorBuildError
from logwarden.pipeline.conditions import Condition, all_of, field_matcher, filter_condition
from logwarden.pipeline.config import PipelineConfig
from logwarden.pipeline.runner import Pipeline, PipelineSet, Step

Loc = tuple[int | str, ...]


class PipelineBuildError(ValueError):
    """A pipeline that validates but cannot be built.

    `loc` is the path of the offending setting inside the pipelines list (`(0, "processors", 1, "pattern")`);
    the message names the pipeline, the processor and the setting.
    """

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


def build_pipeline_set(configs: list[PipelineConfig], *, base_dir: Path | None = None) -> PipelineSet:
    """Compile conditions and build processors; raises PipelineBuildError at the first one that cannot work."""
    env = BuildEnv(base_dir=base_dir or Path.cwd())
    built: list[Pipeline] = []
    try:
        for i, pc in enumerate(configs):
            where = f"pipeline {pc.name!r}"
            conditions: list[Condition] = []
            if pc.match:
                conditions.append(field_matcher(pc.match))
            if pc.if_:
                conditions.append(_condition(pc.if_, (i, "if"), where))
            steps = []
            for j, spec in enumerate(pc.processors):
                step_id = spec.id or f"{spec.type}#{j + 1}"
                step_where = f"{where}, processor {j + 1} ({spec.type}{', id ' + spec.id if spec.id else ''})"
                loc: Loc = (i, "processors", j)
                condition = _condition(spec.if_, (*loc, "if"), step_where) if spec.if_ else None
                try:
                    processor = spec.build(env)
                except ProcessorBuildError as exc:
                    raise PipelineBuildError((*loc, exc.field), f"{step_where}: {exc.field}: {exc}") from None
                steps.append(Step(step_id, processor, condition, spec.on_error))
            built.append(Pipeline(pc.name, tuple(steps), all_of(conditions)))
    except BaseException:
        PipelineSet(tuple(built)).close()
        raise
    return PipelineSet(tuple(built), version=config_digest(configs))


def config_digest(configs: list[PipelineConfig]) -> str:
    """A short digest of the pipelines' settings: which version is running."""
    data = [c.model_dump(mode="json", by_alias=True) for c in configs]
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


def _condition(text: str, loc: Loc, where: str) -> Condition:
    try:
        return filter_condition(text)
    except ValueError as exc:
        raise PipelineBuildError(loc, f"{where}: if: {exc}") from None
