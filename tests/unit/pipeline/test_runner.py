"""The pipeline runner: row selection, order, error handling, dead letters, and stats."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor
from logwarden.pipeline.conditions import field_matcher, glob_regex
from logwarden.pipeline.runner import ERROR_FIELD, Pipeline, PipelineSet, Step, concat_wide


class SetField(Processor):
    """Sets a constant attribute on every row it sees."""

    def __init__(self, name: str, value: object) -> None:
        self.name, self.value = name, value

    def process(self, batch: pa.Table) -> Processed:
        return Processed(fields.set_field(batch, self.name, pa.repeat(pa.scalar(self.value), batch.num_rows)))


class FailOn(Processor):
    """Fails on rows whose message contains a word."""

    def __init__(self, word: str) -> None:
        self.word = word

    def process(self, batch: pa.Table) -> Processed:
        hit = pc.match_substring(batch.column("message"), self.word)
        errors = pc.if_else(hit, pa.scalar(f"saw {self.word}"), pa.scalar(None, pa.string()))
        return Processed(batch, errors)


class Explode(Processor):
    def process(self, batch: pa.Table) -> Processed:
        raise RuntimeError("boom")


class DropAll(Processor):
    def process(self, batch: pa.Table) -> Processed:
        return Processed(batch.slice(0, 0))


def records(*messages: str, **extra: object) -> pa.Table:
    return fields.wide_from_records([{"message": m, **extra} for m in messages])


def messages(batch: pa.Table) -> list[str]:
    return batch.column("message").to_pylist()


def test_steps_run_in_order_on_every_row() -> None:
    ps = PipelineSet((Pipeline("p", (Step("a", SetField("x", 1)), Step("b", SetField("x", 2)))),))
    out = ps.run(records("one", "two"))
    assert out.batch.column("x").to_pylist() == [2, 2]
    assert [(s.step, s.lines_in, s.lines_out) for s in out.stats] == [("a", 2, 2), ("b", 2, 2)]


def test_pipeline_match_selects_rows_and_keeps_line_order() -> None:
    batch = fields.wide_from_records([{"message": str(i), "service": "nginx" if i % 2 else "api"} for i in range(6)])
    ps = PipelineSet((Pipeline("nginx", (Step("s", SetField("web", True)),), field_matcher({"service": "nginx"})),))
    out = ps.run(batch)
    assert messages(out.batch) == ["0", "1", "2", "3", "4", "5"]
    assert out.batch.column("web").to_pylist() == [None, True, None, True, None, True]
    assert "__row" not in out.batch.column_names


def test_field_matcher_lists_globs_and_missing_fields() -> None:
    batch = fields.wide_from_records(
        [{"message": "a", "host": "web-1"}, {"message": "b", "host": "db-1"}, {"message": "c", "host": "web-x.y"}]
    )
    assert field_matcher({"host": "web-*"})(batch).to_pylist() == [True, False, True]
    assert field_matcher({"host": ["db-1", "web-?"]})(batch).to_pylist() == [True, True, False]
    assert field_matcher({"host": "web-*", "message": "c"})(batch).to_pylist() == [False, False, True]
    assert field_matcher({"nope": "x"})(batch).to_pylist() == [False, False, False]


def test_glob_regex_escapes_regex_syntax() -> None:
    assert pc.match_substring_regex(pa.array(["a.b", "axb", "a.b.c"]), glob_regex("a.b")).to_pylist() == [
        True,
        False,
        False,
    ]


def test_step_condition_limits_a_step() -> None:
    ps = PipelineSet((Pipeline("p", (Step("s", SetField("flag", "x"), condition=field_matcher({"message": "b*"})),)),))
    out = ps.run(records("alpha", "beta", "bravo"))
    assert out.batch.column("flag").to_pylist() == [None, "x", "x"]


def test_errors_tag_lines_by_default_and_keep_them() -> None:
    ps = PipelineSet((Pipeline("p", (Step("check", FailOn("bad")), Step("check2", FailOn("very")))),))
    out = ps.run(records("good", "bad", "very bad"))
    assert messages(out.batch) == ["good", "bad", "very bad"]
    assert out.batch.column(ERROR_FIELD).to_pylist() == [
        None,
        "check: saw bad",
        "check: saw bad; check2: saw very",
    ]
    assert [s.errors for s in out.stats] == [2, 1]


def test_errors_can_go_to_the_dead_letter_stream() -> None:
    ps = PipelineSet((Pipeline("p", (Step("check", FailOn("bad"), on_error="dead_letter"),)),))
    out = ps.run(records("good", "bad"))
    assert messages(out.batch) == ["good"]
    (dead,) = out.dead_letters
    row = dead.to_pylist()[0]
    assert row["message"] == "bad"
    assert row["source"] == "dead_letter"
    assert row["original_source"] == "test"
    assert row["error"] == "check: saw bad"
    assert out.stats[0].dead_lettered == 1
    assert out.stats[0].dropped == 0


def test_errors_can_drop_lines_and_are_counted() -> None:
    ps = PipelineSet((Pipeline("p", (Step("check", FailOn("bad"), on_error="drop"),)),))
    out = ps.run(records("good", "bad", "bad too"))
    assert messages(out.batch) == ["good"]
    assert out.stats[0].dropped == 2
    assert out.dropped == 2


def test_a_crashing_processor_loses_nothing() -> None:
    ps = PipelineSet((Pipeline("p", (Step("x", Explode()), Step("after", SetField("ok", 1)))),))
    out = ps.run(records("one", "two"))
    assert messages(out.batch) == ["one", "two"]
    assert out.batch.column(ERROR_FIELD).to_pylist() == ["x: internal error: boom"] * 2
    assert out.batch.column("ok").to_pylist() == [1, 1]


def test_dropping_every_line_stops_the_pipeline() -> None:
    later = SetField("never", 1)
    ps = PipelineSet((Pipeline("p", (Step("drop", DropAll()), Step("later", later))),))
    out = ps.run(records("a", "b"))
    assert out.batch.num_rows == 0
    assert [s.step for s in out.stats] == ["drop"]
    assert out.stats[0].dropped == 2


def test_partial_match_with_conflicting_types_keeps_both_as_text() -> None:
    batch = fields.wide_from_records([{"message": "a", "v": "x", "k": 1}, {"message": "b", "v": "y", "k": 2}])
    ps = PipelineSet((Pipeline("p", (Step("s", SetField("v", 7)),), field_matcher({"message": "a"})),))
    # "v" becomes int in the selected rows, stays text in the others: the merge keeps both as text.
    out = ps.run(batch)
    assert out.batch.column("v").to_pylist() == ["7", "y"]


def test_concat_wide_aligns_missing_columns_and_widens_numbers() -> None:
    a = pa.table({"x": pa.array([1], pa.int64()), "y": ["s"]})
    b = pa.table({"x": pa.array([1.5], pa.float64()), "z": [True]})
    merged = concat_wide([a, b])
    assert merged.column_names == ["x", "y", "z"]
    assert merged.column("y").to_pylist() == ["s", None]
    assert merged.column("z").to_pylist() == [None, True]
    assert merged.column("x").to_pylist() == [1.0, 1.5]


def test_empty_set_returns_the_batch_untouched() -> None:
    batch = records("a")
    assert PipelineSet().run(batch).batch is batch


@pytest.mark.parametrize("name", ["observed_ts", "severity"])
def test_read_only_core_fields_cannot_be_set(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be changed"):
        fields.set_field(records("a"), name, pa.array(["x"]))


def test_conditional_convert_keeps_its_type_when_other_rows_lack_the_field() -> None:
    from logwarden.pipeline.transforms.convert import ConvertConfig

    convert = ConvertConfig.model_validate({"type": "convert", "fields": {"response": "int"}}).build(BuildEnv())
    batch = fields.wide_from_records([{"service": "nginx", "response": "200"}, {"service": "api"}])
    ps = PipelineSet((Pipeline("p", (Step("c", convert),), field_matcher({"service": "nginx"})),))
    out = ps.run(batch)
    assert out.batch.column("response").type == pa.int64()
    assert out.batch.column("response").to_pylist() == [200, None]
