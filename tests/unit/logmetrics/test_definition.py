"""Metric definitions: checked once, with errors that name the file, the metric and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from logwarden.config.logmetrics import DefinitionError, MetricDefinition, load_dir, parse_definitions
from logwarden.config.model import Config
from logwarden.logmetrics.aggregate import CompiledMetric
from logwarden.logmetrics.service import definitions_of


def test_a_directory_of_yaml_files_loads_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("- name: slow\n  type: histogram\n  field: latency_ms\n  labels: [service]\n")
    (tmp_path / "a.yml").write_text("metrics:\n  - name: errors\n    query: 'level:error'\n")
    (tmp_path / "notes.txt").write_text("ignored")
    found = load_dir(tmp_path)
    assert [(d.name, d.type) for d in found] == [("errors", "counter"), ("slow", "histogram")]
    assert found[0].exposed_name == "errors_total" and found[1].exposed_name == "slow"


@pytest.mark.parametrize(
    ("item", "wanted"),
    [
        ({"name": "x", "type": "sum"}, "metric 'x', field field: type sum needs `field`"),
        ({"name": "x", "field": "ms"}, "metric 'x', field field: a counter counts lines"),
        ({"name": "9x"}, "metric '9x', field name: invalid metric name"),
        ({"name": "x", "labels": ["tenant"]}, "metric 'x', field labels: label field 'tenant' is reserved"),
        ({"name": "x", "max_series": 0}, "metric 'x', field max_series"),
        ({"name": "x", "colour": "red"}, "metric 'x', field colour: Extra inputs are not permitted"),
        ({"type": "counter"}, "metric #1, field name: Field required"),
    ],
)
def test_a_wrong_definition_names_its_file_metric_and_field(item: dict[str, object], wanted: str) -> None:
    with pytest.raises(DefinitionError) as err:
        parse_definitions({"metrics": [item]}, "defs/web.yaml")
    assert str(err.value).startswith("defs/web.yaml: ")
    assert wanted in str(err.value)


def test_queries_are_checked_when_compiled() -> None:
    with pytest.raises(DefinitionError, match=r"metric 'x', field query: .*column"):
        CompiledMetric(MetricDefinition(name="x", query="service:("), "m.yaml")
    with pytest.raises(DefinitionError, match=r"metric 'x', field query: only line pipes .* \(column 9\)"):
        CompiledMetric(MetricDefinition(name="x", query="error | stats count()"), "m.yaml")
    with pytest.raises(DefinitionError, match="`_time` has no place"):
        CompiledMetric(MetricDefinition(name="x", query="_time:>=now-1h"), "m.yaml")
    # Line pipes are welcome: the labels and the field may name what they extract.
    CompiledMetric(MetricDefinition(name="ok", query='"from" | extract "from (?P<ip>\\S+)"', labels=["ip"]))


def test_names_are_unique_across_the_builtins_the_config_and_the_directory(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("- name: logs_total\n")
    config = Config.model_validate({"metrics": {"dir": str(tmp_path)}})
    with pytest.raises(DefinitionError, match="'logs_total' is defined twice"):
        definitions_of(config)
    config = Config.model_validate({"metrics": {"dir": str(tmp_path), "builtin": False}})
    assert [d.name for d in definitions_of(config)] == ["logs_total"]
    with pytest.raises(ValueError, match="'a' is defined twice"):
        Config.model_validate({"metrics": {"definitions": [{"name": "a"}, {"name": "a"}]}})


def test_the_builtin_series_are_there_by_default() -> None:
    names = [d.name for d in definitions_of(Config())]
    assert names == ["logs_total", "log_bytes_total"]
