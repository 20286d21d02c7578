"""`kv`: `key=value` pairs with configurable separators and quotes (the engine `logfmt` shares).

The pairs of every row are found with one polars `extract_all`, split into key and value, unquoted
and trimmed on the exploded column, and pivoted back to one column per key: no per-line Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
from pydantic import Field

from logwarden.lazy import lazy_module
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorBuildError
from logwarden.pipeline.parsers.common import (
    ExtractingParserConfig,
    error_array,
    read_source,
    set_record_fields,
)

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")  # imported on first use (logwarden.lazy)


@dataclass(frozen=True, slots=True)
class KvSyntax:
    """How pairs are written."""

    field_split: str
    value_split: str
    quotes: str
    bare_keys: bool = False
    """A key with no value separator is a flag with value "true" (logfmt)."""
    trim_key: str = ""
    trim_value: str = ""

    def pair_pattern(self) -> str:
        """A Rust-regex (polars) pattern matching one pair."""
        fs, vs, qs = (_class_chars(x) for x in (self.field_split, self.value_split, self.quotes))
        key = f"[^{fs}{vs}{qs}]+" if qs else f"[^{fs}{vs}]+"
        quoted = [f"{re.escape(q)}(?:[^{_class_chars(q)}\\\\]|\\\\.)*{re.escape(q)}" for q in self.quotes]
        value = "(?:" + "|".join([*quoted, f"[^{fs}]*"]) + ")"
        if self.bare_keys:
            return f"{key}(?:[{vs}]{value})?"
        return f"{key}[{vs}]{value}"


def _class_chars(chars: str) -> str:
    """Characters escaped for use inside a `[...]` class."""
    return "".join("\\" + c if c in "\\]^-[" else c for c in chars).replace("\t", "\\t").replace("\n", "\\n")


class KeyValueParser(Processor):
    """Finds pairs with polars and sets one field per key (first value of a repeated key wins)."""

    def __init__(
        self,
        config: ExtractingParserConfig,
        syntax: KvSyntax,
        include_keys: list[str],
        exclude_keys: list[str],
    ) -> None:
        self.config = config
        self.syntax = syntax
        self.pattern = syntax.pair_pattern()
        vs = _class_chars(syntax.value_split)
        self.split = f"^(?P<k>[^{vs}]+)(?:[{vs}](?P<v>(?s:.*)))?$"
        self.include_keys = include_keys
        self.exclude_keys = exclude_keys

    def process(self, batch: pa.Table) -> Processed:
        source = read_source(batch, self.config.field)
        if not source.any:
            return Processed(batch, error_array(self.config, source, None, ""))
        records, found = self.parse(source.text)
        if records is not None and records.num_columns:
            batch = set_record_fields(batch, records, found, target=self.config.target, overwrite=self.config.overwrite)
        return Processed(batch, error_array(self.config, source, found, "no key-value pairs found"))

    def _split_pair(self, pair: pl.Expr) -> pl.Expr:
        """key and value of a pair, as a struct {k, v} (v null for a bare key)."""
        if len(self.syntax.value_split) == 1:
            # One separator character: a plain split is several times cheaper than a regex.
            return pair.str.splitn(self.syntax.value_split, 2).struct.rename_fields(["k", "v"])
        return pair.str.extract_groups(self.split)

    def parse(self, text: pa.Array) -> tuple[pa.Table | None, pa.Array]:
        """(one text column per key aligned with the rows, rows where some pair was found)."""
        n = len(text)
        syntax = self.syntax
        pairs = (
            pl.DataFrame({"t": pl.from_arrow(text)})
            .with_row_index("row")
            .select("row", pl.col("t").str.extract_all(self.pattern).alias("pair"))
            .explode("pair")
            .filter(pl.col("pair").is_not_null())
            .select("row", self._split_pair(pl.col("pair")).alias("kv"))
            .unnest("kv")
            # A line of bare words is not key-value text: it needs at least one real pair.
            .filter(pl.col("v").is_not_null().any().over("row"))
        )
        key = pl.col("k")
        value = pl.col("v")
        if syntax.bare_keys:
            value = value.fill_null(pl.lit("true"))
        if syntax.trim_key:
            key = key.str.strip_chars(syntax.trim_key)
        for q in syntax.quotes:
            quoted = value.str.starts_with(q) & value.str.ends_with(q) & (value.str.len_chars() >= 2)
            inner = value.str.slice(1, value.str.len_chars() - 2).str.replace_all(r"\\(.)", "$1")
            value = pl.when(quoted).then(inner).otherwise(value)
        if syntax.trim_value:
            value = value.str.strip_chars(syntax.trim_value)
        pairs = pairs.select("row", key.alias("k"), value.alias("v")).filter(
            pl.col("k").is_not_null()
            & (pl.col("k") != "")
            & pl.col("v").is_not_null()
            # A key with control characters is not a name (and NUL cannot be a column name at all).
            & ~pl.col("k").str.contains(r"[\x00-\x1f\x7f]")
        )
        if self.include_keys:
            pairs = pairs.filter(pl.col("k").is_in(self.include_keys))
        if self.exclude_keys:
            pairs = pairs.filter(~pl.col("k").is_in(self.exclude_keys))
        if pairs.height == 0:
            return None, pa.repeat(pa.scalar(False), n)
        wide = pairs.pivot(on="k", index="row", values="v", aggregate_function="first")
        aligned = (
            pl.DataFrame({"row": pl.arange(0, n, eager=True).cast(pairs.schema["row"])})
            .join(wide, on="row", how="left")
            .sort("row")
        )
        found = pl.DataFrame({"row": aligned["row"]}).select(pl.col("row").is_in(pairs["row"].unique()))
        table = aligned.drop("row").to_arrow()
        table = table.cast(pa.schema([pa.field(f.name, pa.string()) for f in table.schema]))
        return table, found.to_series().to_arrow()


class KvConfig(ExtractingParserConfig):
    """Parse `key=value` pairs with configurable separators (`a=1, b=2`, `user:bob|id:7`); values are text."""

    type: Literal["kv"]
    field_split: str = Field(" ", min_length=1)
    """Characters that separate pairs (any one of them)."""
    value_split: str = Field("=", min_length=1)
    """Characters that separate a key from its value (any one of them)."""
    quotes: str = "\"'"
    """Quote characters: a quoted value may hold separators; `\\` escapes inside quotes. Empty: no quoting."""
    trim_key: str = ""
    """Characters stripped from both ends of keys (e.g. `"<>[],"`)."""
    trim_value: str = ""
    """Characters stripped from both ends of values (after unquoting)."""
    include_keys: list[str] = Field(default_factory=list)
    """Only these keys become fields (default: every key)."""
    exclude_keys: list[str] = Field(default_factory=list)
    """Keys that never become fields."""

    def build(self, env: BuildEnv) -> Processor:
        if set(self.field_split) & set(self.value_split):
            raise ProcessorBuildError("value_split", "field_split and value_split must not share characters")
        if set(self.quotes) & (set(self.field_split) | set(self.value_split)):
            raise ProcessorBuildError("quotes", "quote characters must differ from the separators")
        syntax = KvSyntax(self.field_split, self.value_split, self.quotes, False, self.trim_key, self.trim_value)
        return KeyValueParser(self, syntax, self.include_keys, self.exclude_keys)


CONFIGS = (KvConfig,)
