"""The shared pieces of the generated settings references (`settings_docs.py`): table cells, the
undocumented-settings check and `--write`, which replaces only the text between the markers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from logwarden.settings_docs import GeneratedSection, settings_table, undocumented


class Inner(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    depth: int = 1
    """How deep."""


class Sample(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str
    """Who it is | with a pipe
    and a second line."""
    wait: timedelta = timedelta(minutes=1, seconds=30)
    """How long."""
    token: SecretStr = SecretStr("hidden")
    """A secret."""
    inner: Inner = Field(default_factory=Inner)
    """Nested settings."""
    tags: list[str] = Field(default_factory=lambda: ["a"])
    bare: int = 0


def test_settings_table_cells() -> None:
    assert settings_table(Sample, skip=("bare",)) == [
        "| setting | default | meaning |",
        "|---|---|---|",
        "| `name` | required | Who it is \\| with a pipe and a second line. |",
        "| `wait` | `1m30s` | How long. |",
        "| `token` | (secret) | A secret. |",
        "| `inner` | see below | Nested settings. |",
        '| `tags` | `["a"]` |  |',
    ]


def test_undocumented_names_the_settings_without_a_docstring() -> None:
    assert undocumented([Sample, Inner]) == ["Sample.tags", "Sample.bare"]


def test_write_replaces_only_the_generated_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    section = GeneratedSection("pkg.docs", "docs/x.md", lambda: "new\n")
    doc = tmp_path / "x.md"
    doc.write_text(f"# Title\n\nby hand\n{section.begin}\nold\nlines\n{section.end}\nafter\n", encoding="utf-8")
    assert section.part(doc.read_text(encoding="utf-8")) == "old\nlines\n"
    section.main(["--write", str(doc)])
    assert doc.read_text(encoding="utf-8") == f"# Title\n\nby hand\n{section.begin}\nnew\n{section.end}\nafter\n"
    section.main([])
    assert capsys.readouterr().out == "new\n\n"


def test_write_refuses_a_document_without_markers(tmp_path: Path) -> None:
    doc = tmp_path / "plain.md"
    doc.write_text("# nothing generated here\n", encoding="utf-8")
    section = GeneratedSection("pkg.docs", "docs/plain.md", lambda: "x")
    assert section.part(doc.read_text(encoding="utf-8")) is None
    with pytest.raises(SystemExit, match="no generated-section markers"):
        section.main(["--write", str(doc)])
    assert doc.read_text(encoding="utf-8") == "# nothing generated here\n"
