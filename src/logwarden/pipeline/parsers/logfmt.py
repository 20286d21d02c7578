"""`logfmt`: `level=info msg="request done" duration=12ms cached` lines (Heroku / Go logfmt)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from logwarden.pipeline.base import BuildEnv, Processor
from logwarden.pipeline.parsers.common import ExtractingParserConfig
from logwarden.pipeline.parsers.kv import KeyValueParser, KvSyntax

LOGFMT = KvSyntax(field_split=" \t", value_split="=", quotes='"', bare_keys=True)


class LogfmtConfig(ExtractingParserConfig):
    """Parse logfmt: space-separated `key=value`, values in double quotes may hold spaces (`\\"` escapes a
    quote), a bare `key` is a flag with value "true". Values are text. At the top level `msg`, `level`,
    `ts`/`time`… set the core fields, as for JSON."""

    type: Literal["logfmt"]
    include_keys: list[str] = Field(default_factory=list)
    """Only these keys become fields (default: every key)."""
    exclude_keys: list[str] = Field(default_factory=list)
    """Keys that never become fields."""

    def build(self, env: BuildEnv) -> Processor:
        return KeyValueParser(self, LOGFMT, self.include_keys, self.exclude_keys)


CONFIGS = (LogfmtConfig,)
