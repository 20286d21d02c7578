"""Metric definitions made through the API: one YAML file under the data directory
(`<data_dir>/logmetrics/definitions.yaml`), read at start beside the config's, rewritten whole (atomically) on
each change. A file rather than a metadata table: definitions are few, readable and diffable, and need no
migration; the same format as `metrics.dir` files, so one can be moved into the config as it is.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import yaml

from logwarden.config.logmetrics import DefinitionError, MetricDefinition, parse_definitions
from logwarden.logmetrics.store import DIR

FILE = "definitions.yaml"


class UserDefinitions:
    """The definitions of the API, kept in `path` (a missing file: none)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def under(cls, data_dir: Path) -> UserDefinitions:
        """The file of a server's data directory."""
        return cls(data_dir / DIR / FILE)

    @property
    def lock(self) -> threading.Lock:
        """Held across a read-change-write of the file (and the subscriber's switch to it)."""
        return self._lock

    def load(self) -> list[MetricDefinition]:
        """The definitions in the file; DefinitionError (naming the file) when it is not valid."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DefinitionError(f"{self.path}: not valid YAML: {exc}") from None
        return parse_definitions(raw, str(self.path))

    def save(self, definitions: list[MetricDefinition]) -> None:
        """Write `definitions` in place of the file's (a temporary file renamed over it: never half written);
        callers hold `lock` across their read-change-write."""
        items = [d.model_dump(mode="json", exclude_defaults=True) for d in definitions]
        text = yaml.safe_dump({"metrics": items}, sort_keys=False, allow_unicode=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".yaml.tmp")
        with temporary.open("w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
