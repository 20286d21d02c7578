"""What every parser shares: its source-field settings, reading the source text, writing the parsed fields.

Parsers read one text field (`field`, default `message`), parse the rows that have it, and write what
they found as fields, at the top level or under a `target.` prefix. A row that does not parse keeps
flowing unchanged and gets an error text (the runner turns it into `pipeline_error`), unless
`ignore_failure` is set; a row without the source field is left alone (`ignore_missing`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator

from logwarden.model.normalize import BatchContext, attr_column, core_fields_of
from logwarden.model.schema import FIELD_ALIASES
from logwarden.pipeline import fields
from logwarden.pipeline.base import ProcessorBuildError, ProcessorConfig

_FIELD_NAME = re.compile(r"^[A-Za-z_@][A-Za-z0-9_.@-]*$")
_NULL_TEXT = pa.scalar(None, pa.string())


def check_field_name(name: str) -> str:
    """A field name users write: letters, digits, `_ . @ -`, not starting with a digit, dot or dash."""
    if not _FIELD_NAME.match(name) or ".." in name or name.endswith("."):
        raise ValueError(f"invalid field name {name!r}")
    if fields.column_of(name) in fields.READ_ONLY:
        raise ValueError(f"field {name!r} is set by logwarden and cannot be written by a parser")
    return name


class ParserConfig(ProcessorConfig):
    """Source-field settings shared by every parser."""

    field: str = "message"
    """Field holding the text to parse."""
    ignore_missing: bool = True
    """A line without the source field (or with a null value) passes unchanged and without error;
    with `false` it is an error (`field 'x' is missing`)."""
    ignore_failure: bool = False
    """A line the parser cannot parse passes unchanged and without error; with `false` (default) it
    keeps flowing unchanged but carries the error, which `on_error` handles."""

    @field_validator("field")
    @classmethod
    def _field_name(cls, v: str) -> str:
        if not _FIELD_NAME.match(v):
            raise ValueError(f"invalid field name {v!r}")
        return v


class ExtractingParserConfig(ParserConfig):
    """Settings of parsers that write the fields they extract."""

    target: str | None = None
    """Write the parsed fields under this prefix (`target: http` → `http.status`); default: top level.
    Under a target no field is taken as a core field (`msg` stays `<target>.msg`)."""
    overwrite: bool = True
    """A parsed field replaces a value the line already has; with `false` only missing fields are set."""

    @field_validator("target")
    @classmethod
    def _target_name(cls, v: str | None) -> str | None:
        if v is not None:
            check_field_name(v)
        return v


@dataclass(frozen=True, slots=True)
class Source:
    """The text to parse and which rows have it."""

    text: pa.Array
    """The source field as text (null where missing)."""
    present: pa.Array
    """True where the row has the field (non-null)."""

    @property
    def any(self) -> bool:
        return bool(pc.any(self.present).as_py())


def read_source(batch: pa.Table, name: str) -> Source:
    """The source field of a batch as text; all-null when no row has it."""
    text = fields.get_strings(batch, name)
    if text is None:
        text = pa.nulls(batch.num_rows, pa.string())
    return Source(text, pc.is_valid(text))


def error_array(
    config: ParserConfig, source: Source, parsed: pa.Array | None, reason: str | pa.Array
) -> pa.Array | None:
    """Per-row errors: `reason` where the source is present but did not parse, the missing-field text
    where the field is absent and `ignore_missing` is off; null elsewhere. None when no row failed."""
    n = len(source.text)
    errors: pa.Array | None = None
    if not config.ignore_failure and parsed is not None:
        failed = pc.and_(source.present, pc.invert(pc.fill_null(parsed, False)))
        if pc.any(failed).as_py():
            value = reason if isinstance(reason, pa.Array) else pa.scalar(reason, pa.string())
            errors = pc.if_else(failed, value, _NULL_TEXT)
    if not config.ignore_missing:
        missing = pc.invert(source.present)
        if pc.any(missing).as_py():
            text = pa.scalar(f"field {config.field!r} is missing", pa.string())
            errors = pc.if_else(missing, text, errors if errors is not None else pa.nulls(n, pa.string()))
    return errors


def prefixed(target: str | None, name: str) -> str:
    return f"{target}.{name}" if target else name


def set_outputs(
    batch: pa.Table,
    outputs: dict[str, pa.Array],
    where: pa.Array,
    *,
    overwrite: bool = True,
) -> pa.Table:
    """Set each output field (user-written name → values) on rows where `where` holds and the value is
    non-null; without `overwrite`, only where the line does not have the field yet."""
    where = pc.fill_null(where, False)
    everywhere = overwrite and bool(pc.all(where).as_py())
    for name, values in outputs.items():
        if values.null_count == len(values):
            continue
        if everywhere and values.null_count == 0:
            # Every row parsed and has the field (the common case): no masks to build.
            batch = fields.set_field(batch, name, values)
            continue
        mask = pc.and_(where, pc.is_valid(values))
        if not overwrite:
            existing = fields.get(batch, name)
            if existing is not None:
                mask = pc.and_(mask, pc.is_null(existing))
        if not pc.any(mask).as_py():
            continue
        batch = fields.set_field(batch, name, values, mask)
    return batch


def set_record_fields(
    batch: pa.Table,
    records: pa.Table,
    where: pa.Array,
    *,
    target: str | None,
    overwrite: bool,
) -> pa.Table:
    """Set the columns of a parsed record table (aligned with `batch`) as fields.

    At the top level, keys that name core fields (`msg`, `level`, `timestamp`, `host`…, see
    FIELD_ALIASES) set those core fields, as for a record sent to the ingest API; under a target
    every key is a plain `target.key` attribute.
    """
    if target is not None:
        outputs = {prefixed(target, name): records.column(name).combine_chunks() for name in records.column_names}
        return set_outputs(batch, outputs, where, overwrite=overwrite)
    ctx = BatchContext(tenant="-", source="-", received=fields.received_time(batch))
    ts_aliases = [alias for alias in FIELD_ALIASES["ts"] if alias in records.column_names]
    core, attrs, present = core_fields_of(records, ctx)
    outputs = {}
    for name in ("service", "host", "level", "message", "trace_id", "span_id"):
        if name in present:
            outputs[name] = core[name]
    outputs.update({"attrs." + key if attr_column(key) != key else key: value for key, value in attrs.items()})
    batch = set_outputs(batch, outputs, where, overwrite=overwrite)
    # The time: the first alias (in priority order) that parses wins; set_field keeps the old time
    # where a value does not parse, so applying the aliases lowest priority first gives that.
    for alias in reversed(ts_aliases):
        batch = set_outputs(batch, {"ts": records.column(alias).combine_chunks()}, where, overwrite=overwrite)
    return batch


def struct_fields(matches: pa.Array) -> tuple[pa.Array, dict[str, pa.Array]]:
    """(matched mask, group → values) of an `extract_regex` result; empty captures become null."""
    if isinstance(matches, pa.ChunkedArray):
        matches = matches.combine_chunks()
    matched = pc.is_valid(matches)
    groups: dict[str, pa.Array] = {}
    for i in range(matches.type.num_fields):
        child = pc.struct_field(matches, [i])
        # An unmatched optional group (or a row that did not match) comes back as "".
        groups[matches.type.field(i).name] = pc.if_else(pc.and_(matched, pc.not_equal(child, "")), child, _NULL_TEXT)
    return matched, groups


def name_groups(pattern: str, setting: str) -> str:
    """Turn plain `(…)` groups into `(?:…)` (Arrow's extract_regex wants every group named) and
    Oniguruma-style `(?<name>…)` into RE2's `(?P<name>…)`."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
            # A `]` right after `[` or `[^` is literal.
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append("]")
                i += 1
        elif c == "(":
            if pattern[i + 1 : i + 3] == "?<" and pattern[i + 3 : i + 4] not in ("=", "!"):
                out.append("(?P<")
                i += 3
                continue
            out.append("(" if pattern[i + 1 : i + 2] == "?" else "(?:")
        else:
            out.append(c)
        i += 1
    if in_class:
        raise ProcessorBuildError(setting, f"unterminated character class in {pattern!r}")
    return "".join(out)


def check_re2(pattern: str, setting: str) -> None:
    """Raise ProcessorBuildError naming `setting` when RE2 (Arrow's regex engine) rejects `pattern`."""
    try:
        pc.extract_regex(pa.array([""], pa.string()), pattern)
    except pa.ArrowInvalid as exc:
        reason = str(exc).removeprefix("Invalid regular expression: ")
        hint = ""
        if "invalid perl operator" in reason or "bad repetition operator" in reason:
            hint = " (RE2 has no lookahead, lookbehind, atomic groups or possessive quantifiers)"
        raise ProcessorBuildError(setting, f"invalid regular expression {pattern!r}: {reason}{hint}") from None


def first_matches(text: pa.Array, patterns: list[str]) -> tuple[pa.Array, list[pa.Array]]:
    """Try each pattern (all with named groups) on rows no earlier pattern matched.

    Returns (index of the pattern that matched per row, null where none did; extract_regex result per pattern).
    """
    n = len(text)
    which = pa.nulls(n, pa.int32())
    results: list[pa.Array] = []
    remaining = text
    for index, pattern in enumerate(patterns):
        if remaining.null_count == n:
            results.append(pa.nulls(n, pa.struct([])))
            continue
        result = pc.extract_regex(remaining, pattern)
        matched = pc.is_valid(result)
        results.append(result)
        which = pc.if_else(pc.and_(matched, pc.is_null(which)), pa.scalar(index, pa.int32()), which)
        remaining = pc.if_else(matched, _NULL_TEXT, remaining)
    return which, results


def scatter(values: pa.Array, mask: pa.Array) -> pa.Array:
    """An array as long as `mask` holding `values` (in order) where `mask` is true, null elsewhere."""
    mask = pc.fill_null(mask, False)
    positions = pc.subtract(pc.cumulative_sum(pc.cast(mask, pa.int64())), 1)
    return pc.take(values, pc.if_else(mask, positions, pa.scalar(None, pa.int64())))
