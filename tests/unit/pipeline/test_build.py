"""Building a PipelineSet from the `pipelines:` shapes: errors carry their location inside the list."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.pipeline.build import PipelineBuildError, build_pipeline_set, config_digest
from logwarden.pipeline.config import PipelineConfig


def pipelines(*specs: dict[str, object]) -> list[PipelineConfig]:
    return [PipelineConfig.model_validate(spec) for spec in specs]


def test_builds_each_step_with_its_id(tmp_path: Path) -> None:
    configs = pipelines({"name": "tag", "processors": [{"type": "set", "field": "a", "value": "b"}, {"type": "drop"}]})
    built = build_pipeline_set(configs, base_dir=tmp_path)
    try:
        assert [s.id for s in built.pipelines[0].steps] == ["set#1", "drop#2"]
        assert built.version == config_digest(configs)
    finally:
        built.close()


def test_a_processor_that_cannot_be_built_names_its_setting_and_location() -> None:
    configs = pipelines(
        {"name": "ok", "processors": [{"type": "drop"}]},
        {"name": "web", "processors": [{"type": "drop"}, {"type": "grok", "field": "message", "pattern": "%{NOPE}"}]},
    )
    with pytest.raises(PipelineBuildError) as info:
        build_pipeline_set(configs)
    assert info.value.loc == (1, "processors", 1, "pattern")
    assert str(info.value).startswith("pipeline 'web', processor 2 (grok): pattern: ")


@pytest.mark.parametrize(
    ("spec", "loc", "prefix"),
    [
        ({"name": "p", "if": "a:(", "processors": [{"type": "drop"}]}, (0, "if"), "pipeline 'p': if: "),
        (
            {"name": "p", "processors": [{"type": "drop", "id": "x", "if": "a:("}]},
            (0, "processors", 0, "if"),
            "pipeline 'p', processor 1 (drop, id x): if: ",
        ),
    ],
)
def test_a_bad_condition_names_its_location(spec: dict[str, object], loc: tuple[object, ...], prefix: str) -> None:
    with pytest.raises(PipelineBuildError) as info:
        build_pipeline_set(pipelines(spec))
    assert info.value.loc == loc
    assert str(info.value).startswith(prefix)
