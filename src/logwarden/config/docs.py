"""Render the configuration reference (docs/config.md) from the models' field docstrings.

`python -m logwarden.config.docs > docs/config.md`; a test fails when the file is out of date.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from logwarden.config.model import Config
from logwarden.config.sources import SOURCE_CONFIGS
from logwarden.model.units import format_duration, parse_size

HEADER = """# Configuration reference

logwarden reads an optional YAML file (`logwarden serve --config FILE`), then environment variables,
then command-line flags; later sources win. Every setting has a default, so an empty file (or none)
runs a complete single-process server.

Environment variables are `LOGWARDEN_` followed by the setting's path in upper case with `__` between
levels: `LOGWARDEN_HTTP__PORT=9000`, `LOGWARDEN_STORE__RETENTION_DAYS=30`. Values are read as YAML
scalars. Sizes accept bytes or units (`512KiB`, `16MiB`, `1GB`); durations accept seconds or units
(`500ms`, `90s`, `5m`, `1h`, `7d`).

An invalid setting stops the server at start with the file, line and setting named, for example
`invalid configuration: logwarden.yaml:4: store.retention_days: Input should be greater than or equal to 1`.

This page is generated from the code: `python -m logwarden.config.docs > docs/config.md`.
"""


def _human_size(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def _is_size(field: Any) -> bool:
    return any(getattr(m, "func", None) is parse_size for m in field.metadata)


def _default(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, BaseModel):
        return ""
    if hasattr(value, "__fspath__"):
        return str(value)
    return json.dumps(value, default=str)


def _section(model: type[BaseModel], prefix: str, out: list[str], intro: str = "") -> None:
    rows: list[str] = []
    nested: list[tuple[str, type[BaseModel], str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((name, annotation, f"{field.description}\n\n" if field.description else ""))
            continue
        default = field.get_default(call_default_factory=True)
        doc = (field.description or "").replace("\n", " ").replace("|", "\\|")
        shown = _human_size(default) if _is_size(field) and isinstance(default, int) else _default(default)
        rows.append(f"| `{prefix}{name}` | `{shown}` | {doc} |")
    if rows:
        title = prefix.rstrip(".") or "top level"
        out.append(f"\n## {title}\n\n{intro}| setting | default | meaning |\n|---|---|---|")
        out.extend(rows)
    for name, sub, sub_intro in nested:
        _section(sub, f"{prefix}{name}.", out, sub_intro)


def render() -> str:
    out = [HEADER]
    _section(Config, "", out)
    for source in SOURCE_CONFIGS:
        kind = source.model_fields["type"].default
        intro = f"An entry of `sources` with `type: {kind}`. {(source.__doc__ or '').strip()}\n\n"
        _section(source, f"sources[{kind}].", out, intro)
    out.append(
        """
## Example

```yaml
data_dir: /var/lib/logwarden
http:
  host: 0.0.0.0
  port: 8080
ingest:
  max_body_bytes: 32MiB
  max_inflight_bytes: 512MiB
store:
  memory_limit: 2GiB
  retention_days: 14
  tenants:
    audit: {retention_days: 365, archive_after_days: 7}
archive:
  root: s3://my-bucket/logwarden
  archive_after_days: 3
  storage_options: {endpoint_url: "https://s3.example.internal"}
```
"""
    )
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
