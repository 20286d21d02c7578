"""Annotation templates: the issue's example, undefined names, the sandbox and its bounds."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from logwarden.rules.templates import AnnotationTemplateError, compile_annotations, format_duration, render

CONTEXT = {
    "labels": {"service": "api"},
    "value": 120.0,
    "threshold": 100.0,
    "window": timedelta(minutes=1),
    "evidence": ["first line", "second line"],
}


def one(template: str) -> str:
    return render({"t": template}, CONTEXT)["t"]


def test_the_issue_example_renders() -> None:
    assert one("{{ labels.service }} logged {{ value }} errors in 1m") == "api logged 120 errors in 1m"
    assert one("over {{ threshold }} in {{ window }}") == "over 100 in 1m"
    assert one("{{ value }}") == "120" and render({"t": "{{ value }}"}, {"value": 1.5})["t"] == "1.5"


def test_evidence_and_filters() -> None:
    assert one("{% for e in evidence %}- {{ e }}\n{% endfor %}") == "- first line\n- second line\n"
    assert one("{{ evidence | join('; ') | upper }}") == "FIRST LINE; SECOND LINE"


def test_undefined_names_render_empty() -> None:
    assert one("[{{ nope }}][{{ nope.deeper.still }}][{{ labels.missing }}]") == "[][][]"


def test_a_runtime_failure_becomes_text_not_an_exception() -> None:
    out = one("{{ 1 / 0 }}")
    assert out.startswith("[annotation t failed: ZeroDivisionError")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ labels.__class__.__init__.__globals__ }}",
        "{{ '{0.__class__}'.format(1) }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ lipsum.__globals__ }}",
    ],
)
def test_sandbox_escapes_are_refused(template: str) -> None:
    out = one(template)
    assert "class '" not in out and "module" not in out and "os" not in out.replace("annotation", "")


def test_templates_cannot_change_their_data() -> None:
    context = {"labels": {"service": "api"}, "evidence": ["a"]}
    render({"t": "{{ labels.clear() }}{{ evidence.append('x') }}{{ labels.update({'a': 1}) }}"}, context)
    assert context == {"labels": {"service": "api"}, "evidence": ["a"]}


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "steps"),
        ("{% for a in 'x' * 16000 %}{% for b in 'x' * 16000 %}{% endfor %}{% endfor %}", "steps"),
        ("{{ 'x' * 10 ** 9 }}", "repetition"),
        ("{{ '%0999999999d' % 1 }}", "format width"),
        ("{{ '{:>999999999}'.format(1) }}", "unsafe"),
        ("{{ 'x'.center(999999999) }}", "unsafe"),
        ("{{ 'ab' | replace('', 'y' * 16000) }}", "replace"),
        # Stopped by the recursion limit, or first by the time budget on a loaded machine: bounded either way.
        ("{% macro f() %}{{ f() }}{{ f() }}{% endmacro %}{{ f() }}", "Recursion|longer than 100 ms"),
    ],
)
def test_rendering_is_bounded(template: str, reason: str) -> None:
    started = time.monotonic()
    out = one(template)
    assert time.monotonic() - started < 2  # generous: the bound is 100 ms, CI machines are slow
    assert out.startswith("[annotation t failed") and any(r in out for r in reason.split("|"))


def test_syntax_errors_name_the_annotation() -> None:
    with pytest.raises(AnnotationTemplateError) as caught:
        compile_annotations({"ok": "{{ value }}", "summary": "{{ value "})
    assert caught.value.key == "summary" and "line 1" in str(caught.value)


def test_format_duration() -> None:
    assert [format_duration(timedelta(seconds=s)) for s in (0, 0.5, 60, 90, 5400, 86400)] == [
        "0s", "500ms", "1m", "1m30s", "1h30m", "1d"
    ]  # fmt: skip
