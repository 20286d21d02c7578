"""`timestamp`: parse a field with explicit formats into the line's time (or another field).

Each format is tried, as one vectorized call, on the rows no earlier format parsed: strptime formats
through Arrow's `strptime` (DuckDB's `try_strptime` for `%f` and other directives Arrow lacks),
ISO 8601 through an Arrow cast (DuckDB for the stragglers), epoch keywords through arithmetic.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from logwarden.model.schema import TS_TYPE
from logwarden.model.scratch_db import thread_scratch_connection
from logwarden.model.timestamps import parse_timestamps
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorBuildError
from logwarden.pipeline.parsers.common import (
    ParserConfig,
    Source,
    check_field_name,
    error_array,
    set_outputs,
)
from logwarden.pipeline.parsers.numbers import to_float

KEYWORDS = ("ISO8601", "UNIX", "UNIX_MS", "UNIX_US", "UNIX_NS", "HTTPDATE", "SYSLOG")
_EPOCH_FACTOR = {"UNIX": 1e6, "UNIX_MS": 1e3, "UNIX_US": 1.0, "UNIX_NS": 1e-3}
_HTTPDATE = "%d/%b/%Y:%H:%M:%S %z"
_SYSLOG = r"^[A-Z][a-z]{2} +\d{1,2} \d{1,2}:\d\d:\d\d(?:\.\d+)?$"
_HAS_ZONE = r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
# Directives Arrow's strptime handles; a format using any other goes to DuckDB.
_ARROW_DIRECTIVES = set("dbBmyYHIMSpzZaAjUW%")
_NAIVE = pa.timestamp("us")


class TimestampConfig(ParserConfig):
    """Parse a time field with explicit formats; the first format that parses a value wins.

    Formats are strptime patterns (`%d/%b/%Y:%H:%M:%S %z`, `%Y-%m-%d %H:%M:%S.%f`) or the keywords
    ISO8601, UNIX (seconds), UNIX_MS, UNIX_US, UNIX_NS, HTTPDATE (`10/Oct/2000:13:55:36 -0700`) and
    SYSLOG (`Oct 11 22:14:15`, year taken nearest the receive time). A value no format parses is an
    error for that line, which keeps its time.
    """

    type: Literal["timestamp"]
    field: str = "timestamp"
    """Field holding the time text (or epoch number)."""
    formats: list[str] = Field(default_factory=lambda: ["ISO8601"], min_length=1)
    """Formats tried in order."""
    timezone: str | None = None
    """IANA zone (`Europe/Paris`) for stamps without an offset; default UTC."""
    target: str = "ts"
    """Field that receives the parsed time (default the line's time, `ts`)."""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                zoneinfo.ZoneInfo(v)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Europe/Paris)") from None
        return v

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        return check_field_name(v)

    def build(self, env: BuildEnv) -> Processor:
        for fmt in self.formats:
            if fmt in KEYWORDS:
                continue
            if "%" not in fmt:
                raise ProcessorBuildError(
                    "formats", f"format {fmt!r} is neither a strptime pattern nor one of {', '.join(KEYWORDS)}"
                )
            try:
                thread_scratch_connection().sql("SELECT try_strptime('x', $fmt)", params={"fmt": fmt}).fetchall()
            except duckdb.Error as exc:
                raise ProcessorBuildError("formats", f"invalid format {fmt!r}: {exc}") from None
        return TimestampParser(self)


class TimestampParser(Processor):
    def __init__(self, config: TimestampConfig) -> None:
        self.config = config

    def process(self, batch: pa.Table) -> Processed:
        config = self.config
        raw = fields.get(batch, config.field)
        if raw is None:
            raw = pa.nulls(batch.num_rows, pa.string())
        text = fields.get_strings(batch, config.field)
        assert text is not None or raw.null_count == len(raw)
        text = text if text is not None else pa.nulls(batch.num_rows, pa.string())
        source = Source(text, pc.is_valid(raw))
        if not source.any:
            return Processed(batch, error_array(config, source, None, ""))
        parsed = parse_with_formats(raw, config.formats, config.timezone, fields.received_time(batch))
        ok = pc.is_valid(parsed)
        batch = set_outputs(batch, {config.target: parsed}, ok)
        reason = pc.binary_join_element_wise(
            pa.scalar("no format matched '"), pc.utf8_slice_codeunits(text, 0, 100), pa.scalar("'"), ""
        )
        return Processed(batch, error_array(config, source, ok, reason))


def parse_with_formats(values: pa.Array, formats: list[str], timezone: str | None, received: datetime) -> pa.Array:
    """timestamp[us, UTC] per value: the first format that parses it, null where none does."""
    n = len(values)
    result = pa.nulls(n, TS_TYPE)
    numeric = pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
    text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    text = pc.utf8_trim_whitespace(text)
    for fmt in formats:
        todo = pc.and_(pc.is_valid(values), pc.is_null(result))
        if not pc.any(todo).as_py():
            break
        if fmt in _EPOCH_FACTOR:
            nums = pc.cast(values, pa.float64()) if numeric else to_float(text)
            micros = pc.round(pc.multiply(nums, _EPOCH_FACTOR[fmt]))
            micros = pc.if_else(pc.fill_null(pc.is_finite(micros), False), micros, pa.scalar(None, pa.float64()))
            parsed = pc.cast(pc.cast(micros, pa.int64()), _NAIVE).cast(TS_TYPE)
        elif numeric:
            continue
        else:
            remaining = pc.if_else(todo, text, pa.scalar(None, pa.string()))
            parsed = _parse_text(remaining, fmt, timezone, received)
        result = pc.if_else(todo, parsed, result)
    return result


def _parse_text(text: pa.Array, fmt: str, timezone: str | None, received: datetime) -> pa.Array:
    if fmt == "ISO8601":
        zoned = pc.fill_null(pc.match_substring_regex(text, _HAS_ZONE), False)
        aware = _cast_or_duckdb(pc.if_else(zoned, text, pa.scalar(None, pa.string())), True)
        naive = _cast_or_duckdb(pc.if_else(zoned, pa.scalar(None, pa.string()), text), False)
        return pc.coalesce(aware, _localize(naive, timezone))
    if fmt == "SYSLOG":
        ok = pc.fill_null(pc.match_substring_regex(text, _SYSLOG), False)
        if not pc.any(ok).as_py():
            return pa.nulls(len(text), TS_TYPE)
        as_utc = parse_timestamps(pc.if_else(ok, text, pa.scalar(None, pa.string())), received)
        # The wall-clock time read as UTC; reinterpret it in the configured zone.
        return _localize(pc.cast(pc.cast(as_utc, pa.int64()), _NAIVE), timezone)
    pattern = _HTTPDATE if fmt == "HTTPDATE" else fmt
    return _strptime(text, pattern, timezone)


def _strptime(text: pa.Array, fmt: str, timezone: str | None) -> pa.Array:
    directives = {fmt[i + 1] for i in range(len(fmt) - 1) if fmt[i] == "%"}
    if directives <= _ARROW_DIRECTIVES:
        out = pc.strptime(text, fmt, "us", error_is_null=True)
    else:
        con = thread_scratch_connection()
        con.register("ts_text", pa.table({"s": text}))
        try:
            out = con.sql("SELECT try_strptime(s, $fmt) AS t FROM ts_text", params={"fmt": fmt}).to_arrow_table()
        finally:
            con.unregister("ts_text")
        out = out.column("t").combine_chunks()
    return _to_utc(out, timezone)


def _cast_or_duckdb(text: pa.Array, aware: bool) -> pa.Array:
    if text.null_count == len(text):
        return pa.nulls(len(text), TS_TYPE if aware else _NAIVE)
    try:
        return pc.cast(text, TS_TYPE if aware else _NAIVE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    con = thread_scratch_connection()
    con.register("ts_text", pa.table({"s": text}))
    sql_type = "TIMESTAMPTZ" if aware else "TIMESTAMP"
    try:
        # RFC 3339 allows a lower-case t and z, and a comma before the fraction.
        out = con.sql(
            f"SELECT TRY_CAST(regexp_replace(upper(s), '(:\\d\\d),(\\d)', '\\1.\\2') AS {sql_type}) AS t FROM ts_text"
        ).to_arrow_table()
    finally:
        con.unregister("ts_text")
    return (
        _to_utc(out.column("t").combine_chunks(), None) if aware else pc.cast(out.column("t").combine_chunks(), _NAIVE)
    )


def _to_utc(values: pa.Array, timezone: str | None) -> pa.Array:
    if values.type.tz is not None:
        return pc.cast(pc.cast(values, pa.timestamp(values.type.unit, "UTC")), TS_TYPE)
    return _localize(pc.cast(values, _NAIVE), timezone)


def _localize(naive: pa.Array, timezone: str | None) -> pa.Array:
    if timezone is None or naive.null_count == len(naive):
        return pc.cast(naive, TS_TYPE)
    # Wall-clock times in a gap or overlap of a DST change take the later / earlier reading.
    local = pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="latest")
    return pc.cast(local, TS_TYPE)


CONFIGS = (TimestampConfig,)
