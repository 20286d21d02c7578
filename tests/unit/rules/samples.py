"""Rule files for the rules tests (a module, not a conftest: tests import what they use)."""

from __future__ import annotations

from pathlib import Path

EXAMPLE = """\
groups:
  - name: seed
    rules:
      - name: error-burst
        type: threshold
        query: 'level:error'
        group_by: [service]
        window: 1m
        threshold: 100        # fires when the count in the window is > 100
        for: 0s
        severity: critical
        annotations:
          summary: '{{ labels.service }} logged {{ value }} errors in 1m'
"""


def threshold_rule(name: str, *, threshold: str = "5", query: str = "level:error") -> str:
    """A group with one threshold rule, as YAML."""
    return f"""\
groups:
  - name: g-{name}
    rules:
      - name: {name}
        type: threshold
        query: '{query}'
        window: 1m
        threshold: {threshold}
"""


def make_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    """A rules directory holding `files` (file name → text)."""
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory
