"""Render the processor reference (docs/processors.md) from the processor configs' docstrings.

`python -m logwarden.pipeline.docs > docs/processors.md`; a test fails when the file is out of date.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from pydantic import BaseModel

from logwarden.pipeline.base import ProcessorConfig
from logwarden.pipeline.registry import PROCESSOR_CONFIGS
from logwarden.settings_docs import settings_table

HEADER = """# Processor reference

Every processor of a pipeline (see [pipeline.md](pipeline.md)) is a mapping with a `type` and the
settings below. These settings are common to all of them:

{common}

This page is generated from the code: `python -m logwarden.pipeline.docs > docs/processors.md`.
"""

COMMON = ("id", "if_", "on_error")


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found.extend(_nested_models(arg))
    return found


def _type_name(config: type[ProcessorConfig]) -> str:
    annotation = config.model_fields["type"].annotation
    (name,) = typing.get_args(annotation)
    return str(name)


def render() -> str:
    common = settings_table(ProcessorConfig, skip=[n for n in ProcessorConfig.model_fields if n not in COMMON])
    out = [HEADER.format(common="\n".join(common))]
    for config in sorted(PROCESSOR_CONFIGS, key=_type_name):
        out.append(f"\n## `{_type_name(config)}`\n\n{inspect.cleandoc(config.__doc__ or '')}\n")
        rows = settings_table(config, skip=(*COMMON, "type"))
        if len(rows) > 2:  # more than the table's header
            out.extend(rows)
        for name, field in config.model_fields.items():
            for model in _nested_models(field.annotation):
                out.append(f"\n`{name}` as `{model.__name__}`:\n")
                out.extend(settings_table(model))
    return "\n".join(out) + "\n"


def undocumented() -> list[str]:
    """Processor settings without a docstring (a test keeps this empty)."""
    missing = []
    for config in PROCESSOR_CONFIGS:
        if not config.__doc__ or config.__doc__ == ProcessorConfig.__doc__:
            missing.append(f"{_type_name(config)} (class docstring)")
        for name, field in config.model_fields.items():
            if name != "type" and not field.description:
                missing.append(f"{_type_name(config)}.{name}")
            for model in _nested_models(field.annotation):
                missing.extend(
                    f"{_type_name(config)}.{name}.{n}" for n, f in model.model_fields.items() if not f.description
                )
    return missing


if __name__ == "__main__":
    print(render(), end="")
