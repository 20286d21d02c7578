"""The docs promise what the code does: README commands, CI, and the generated config reference."""

from __future__ import annotations

import re
from pathlib import Path

from logwarden.config.docs import render
from logwarden.config.model import Config

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)[:2]


def test_readme_opens_with_install_serve_and_install_test() -> None:
    serve, test = readme_commands()
    assert "pip install" in serve and "logwarden serve" in serve
    assert "pip install" in test and "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    _, test = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines()


def test_config_reference_is_up_to_date() -> None:
    documented = (ROOT / "docs" / "config.md").read_text()
    assert documented == render(), "regenerate with: python -m logwarden.config.docs > docs/config.md"


def test_every_setting_has_a_docstring() -> None:
    missing = []

    def walk(model: type, prefix: str) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                walk(annotation, f"{prefix}{name}.")
            elif not field.description:
                missing.append(prefix + name)

    walk(Config, "")
    assert missing == []


def test_processor_reference_is_up_to_date() -> None:
    from logwarden.pipeline.docs import render as render_processors

    documented = (ROOT / "docs" / "processors.md").read_text()
    assert documented == render_processors(), "regenerate with: python -m logwarden.pipeline.docs > docs/processors.md"


def test_every_processor_setting_has_a_docstring() -> None:
    from logwarden.pipeline.docs import undocumented

    assert undocumented() == []


def test_pipeline_docs_example_passes_its_inline_tests(tmp_path: Path) -> None:
    from logwarden.config.pipelines import load_pipelines
    from logwarden.pipeline.testing import run_cases

    example = re.search(r"```yaml\n(.+?)```", (ROOT / "docs" / "pipeline.md").read_text(), re.S)
    assert example is not None
    path = tmp_path / "pipelines.yaml"
    path.write_text(example.group(1))
    config, pipelines = load_pipelines(path)
    try:
        results = run_cases(config.pipelines, pipelines)
    finally:
        pipelines.close()
    assert results and all(r.passed for r in results), [r.problems for r in results]
