"""Build a PipelineSet from the config, with errors that name the file, line, pipeline and processor."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import orjson
import yaml

from logwarden.config.loader import ConfigError, line_of, load_config, read_yaml_mapping
from logwarden.config.model import Config
from logwarden.pipeline.base import BuildEnv, ProcessorBuildError
from logwarden.pipeline.conditions import Condition, all_of, field_matcher, filter_condition
from logwarden.pipeline.config import PipelineConfig
from logwarden.pipeline.runner import Pipeline, PipelineSet, Step


def load_pipelines(path: str | Path, env: Mapping[str, str] | None = None) -> tuple[Config, PipelineSet]:
    """Read a config file (a server config, or a file holding just `pipelines:`) and build its pipelines."""
    config = load_config(path, env=env)
    _, root = read_yaml_mapping(path, "the config file")
    return config, build_pipelines(config.pipelines, source=str(path), root=root, base_dir=Path(path).parent)


def load_root(path: str | Path | None) -> yaml.Node | None:
    """The YAML node tree of a config file, for error line numbers (None without a file)."""
    if path is None:
        return None
    return read_yaml_mapping(path, "the config file")[1]


def build_pipelines(
    configs: list[PipelineConfig],
    *,
    source: str = "<config>",
    root: yaml.Node | None = None,
    base_dir: Path | None = None,
) -> PipelineSet:
    """Compile conditions and build processors; raises ConfigError at the first one that cannot work."""
    env = BuildEnv(base_dir=base_dir or Path.cwd())
    built: list[Pipeline] = []
    try:
        for i, pc in enumerate(configs):
            where = f"pipeline {pc.name!r}"
            conditions: list[Condition] = []
            if pc.match:
                conditions.append(field_matcher(pc.match))
            if pc.if_:
                conditions.append(_condition(pc.if_, source, root, ("pipelines", i, "if"), where))
            steps = []
            for j, spec in enumerate(pc.processors):
                step_id = spec.id or f"{spec.type}#{j + 1}"
                step_where = f"{where}, processor {j + 1} ({spec.type}{', id ' + spec.id if spec.id else ''})"
                loc: tuple[int | str, ...] = ("pipelines", i, "processors", j)
                condition = _condition(spec.if_, source, root, (*loc, "if"), step_where) if spec.if_ else None
                try:
                    processor = spec.build(env)
                except ProcessorBuildError as exc:
                    raise _error(source, root, (*loc, exc.field), f"{step_where}: {exc.field}: {exc}") from None
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


def _condition(text: str, source: str, root: yaml.Node | None, loc: tuple[int | str, ...], where: str) -> Condition:
    try:
        return filter_condition(text)
    except ValueError as exc:
        raise _error(source, root, loc, f"{where}: if: {exc}") from None


def _error(source: str, root: yaml.Node | None, loc: tuple[int | str, ...], message: str) -> ConfigError:
    line = line_of(root, loc)
    # A field the user did not write (a default) has no line: fall back to its processor's line.
    while line is None and len(loc) > 1:
        loc = loc[:-1]
        line = line_of(root, loc)
    return ConfigError(f"{source}:{line}: {message}" if line else f"{source}: {message}")
