"""Build the pipelines of a config file, with errors that name the file, line, pipeline and processor.

The pipeline layer builds from the `pipelines:` shapes and reports a failure with its location inside
that list (PipelineBuildError); this module, which has the file and its YAML nodes, adds the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from logwarden.config.loader import ConfigError, line_of, load_config, read_yaml_mapping
from logwarden.config.model import Config
from logwarden.pipeline.build import Loc, PipelineBuildError, build_pipeline_set
from logwarden.pipeline.config import PipelineConfig
from logwarden.pipeline.runner import PipelineSet

# Where the pipelines list sits in a config file.
SECTION = "pipelines"


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
    try:
        return build_pipeline_set(configs, base_dir=base_dir)
    except PipelineBuildError as exc:
        raise _error(source, root, (SECTION, *exc.loc), str(exc)) from None


def _error(source: str, root: yaml.Node | None, loc: Loc, message: str) -> ConfigError:
    line = line_of(root, loc)
    # A field the user did not write (a default) has no line: fall back to its processor's line.
    while line is None and len(loc) > 1:
        loc = loc[:-1]
        line = line_of(root, loc)
    return ConfigError(f"{source}:{line}: {message}" if line else f"{source}: {message}")
