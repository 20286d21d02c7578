"""multiline: Java and Python traces folded per stream within a batch; Filebeat pattern rules."""

from __future__ import annotations

import pytest

from logwarden.pipeline.base import ProcessorBuildError
from logwarden.pipeline.runner import Pipeline, PipelineSet, Step
from tests.unit.pipeline.parsers.helpers import batch_of, build, lines, rows, run


def messages(result_rows: list[dict[str, object]]) -> list[object]:
    return [r.get("message") for r in result_rows]


def test_java_trace_folds_into_its_exception_line() -> None:
    out = rows(
        run(
            {"type": "multiline"},
            lines("start", "java.lang.X: boom", "\tat a.B.c(B.java:1)", "Caused by: Y", "\t... 3 more", "next"),
        )
    )
    assert messages(out) == ["start", "java.lang.X: boom\n\tat a.B.c(B.java:1)\nCaused by: Y\n\t... 3 more", "next"]


def test_streams_do_not_mix() -> None:
    batch = batch_of(
        [
            {"message": "a: err", "host": "a"},
            {"message": "b: err", "host": "b"},
            {"message": "\tat a.A(A.java:1)", "host": "a"},
            {"message": "\tat b.B(B.java:1)", "host": "b"},
        ]
    )
    out = rows(run({"type": "multiline"}, batch))
    assert [(r["host"], r["message"]) for r in out] == [
        ("a", "a: err\n\tat a.A(A.java:1)"),
        ("b", "b: err\n\tat b.B(B.java:1)"),
    ]


def test_other_fields_come_from_the_first_line() -> None:
    batch = batch_of([{"message": "x: boom", "k": 1}, {"message": "\tat f(F.java:1)", "k": 2}])
    [row] = rows(run({"type": "multiline"}, batch))
    assert row["k"] == 1


def test_python_traceback_with_chain() -> None:
    texts = [
        "ERROR job failed",
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in <module>',
        "    f()",
        "ValueError: bad",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "a.py", line 3, in <module>',
        "KeyError: 'x'",
        "INFO next",
    ]
    out = messages(rows(run({"type": "multiline"}, lines(*texts))))
    assert out == ["ERROR job failed", "\n".join(texts[1:11]), "INFO next"]


def test_indented_lines_without_traceback_are_left_alone_by_python_rules() -> None:
    out = messages(rows(run({"type": "multiline", "kinds": ["python"]}, lines("a", "  indented", "b"))))
    assert out == ["a", "  indented", "b"]


def test_filebeat_negate_after_and_before() -> None:
    out = run({"type": "multiline", "pattern": r"^\[", "negate": True}, lines("[1] a", "cont", "[2] b", "x", "y"))
    assert messages(rows(out)) == ["[1] a\ncont", "[2] b\nx\ny"]
    out = run({"type": "multiline", "pattern": r"\\$", "match": "before"}, lines("a \\", "b \\", "c", "d"))
    assert messages(rows(out)) == ["a \\\nb \\\nc", "d"]


def test_max_lines_cuts_long_events() -> None:
    out = run({"type": "multiline", "pattern": "^ ", "max_lines": 2}, lines("a", " 1", " 2", " 3"))
    assert messages(rows(out)) == ["a\n 1", " 2\n 3"]


def test_nothing_to_fold_returns_the_same_batch() -> None:
    batch = lines("a", "b")
    assert run({"type": "multiline"}, batch).batch is batch


def test_bad_settings() -> None:
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "multiline", "pattern": "(?<=x)"})
    assert err.value.field == "pattern"
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "multiline", "kinds": []})
    assert err.value.field == "kinds"


def test_through_the_runner_the_batch_shrinks_and_order_holds() -> None:
    pipelines = PipelineSet((Pipeline("p", (Step("multiline", build({"type": "multiline"})),)),))
    out = pipelines.run(lines("first", "x: e", "\tat a(A.java:1)", "last"))
    assert out.batch.column("message").to_pylist() == ["first", "x: e\n\tat a(A.java:1)", "last"]
    assert out.stats[0].lines_in == 4 and out.stats[0].lines_out == 3
