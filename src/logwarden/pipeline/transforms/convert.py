"""`convert`: change field types (int, float, bool, string, duration in ms, bytes) with vectorized parsing.

A value that does not convert gives the line the error `cannot convert 'abc' to int`. A field holds one
type per batch, so in a batch where other lines did convert, the failed line's field is emptied (the
error keeps the original text); when no line of the batch converts, the field is left as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from logwarden.model.normalize import as_string
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.transforms.names import check_writable

TargetType = Literal["int", "float", "bool", "string", "duration", "bytes"]

_INT_RE = r"^[+-]?\d{1,18}$"
_FLOAT_RE = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_TRUE = pa.array(["true", "yes", "on", "1", "t", "y"], pa.string())
_FALSE = pa.array(["false", "no", "off", "0", "f", "n"], pa.string())

# Duration units → milliseconds; a bare number is already milliseconds.
_DURATION_MS = {
    "": 1.0, "ns": 1e-6, "us": 1e-3, "µs": 1e-3, "μs": 1e-3, "ms": 1.0,
    "s": 1e3, "sec": 1e3, "secs": 1e3, "m": 60e3, "min": 60e3, "mins": 60e3,
    "h": 3600e3, "hr": 3600e3, "hrs": 3600e3, "d": 86400e3,
}  # fmt: skip
_DURATION_UNITS = pa.array(list(_DURATION_MS), pa.string())
_DURATION_FACTORS = pa.array(list(_DURATION_MS.values()), pa.float64())
_DURATION_RE = r"^\s*(?P<n>[+-]?(?:\d+\.?\d*|\.\d+))\s*(?P<u>[a-zµμ]*)\s*$"
# Go-style compound durations ("1h2m3.5s"), parsed in Python for the few lines that have them.
_COMPOUND_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h|d)")
_COMPOUND_RE = r"^\s*(?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s|m|h|d)){2,}\s*$"

_BYTES = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
    "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2, "gi": 1024**3, "gib": 1024**3,
    "ti": 1024**4, "tib": 1024**4,
}  # fmt: skip
_BYTES_UNITS = pa.array(list(_BYTES), pa.string())
_BYTES_FACTORS = pa.array(list(_BYTES.values()), pa.float64())
_BYTES_RE = r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<u>[A-Za-z]*)\s*$"


class ConvertConfig(ProcessorConfig):
    """Convert fields to a type: `{status: int, latency: duration, size: bytes}`."""

    type: Literal["convert"]
    fields: dict[str, TargetType] = Field(min_length=1)
    """Field → type. `int`, `float`, `bool` (true/false/yes/no/on/off/1/0), `string`, `duration` (text like
    `150ms`, `1.5s`, `2m`, `1h30m` → a float number of **milliseconds**; a bare number is taken as ms) and
    `bytes` (`10KiB`, `1.5MB`, `512` → an integer number of bytes; k/M/G are powers of 1000, Ki/Mi/Gi of 1024)."""

    @field_validator("fields")
    @classmethod
    def _names(cls, v: dict[str, TargetType]) -> dict[str, TargetType]:
        for name in v:
            check_writable(name)
        return v

    def build(self, env: BuildEnv) -> Processor:
        return Convert(tuple(self.fields.items()))


Converter = Callable[[pa.Array], pa.Array]


class Convert(Processor):
    def __init__(self, targets: tuple[tuple[str, TargetType], ...]) -> None:
        self.targets = targets

    def process(self, batch: pa.Table) -> Processed:
        errors: pa.Array | None = None
        for name, target in self.targets:
            values = fields.get(batch, name)
            if values is None or values.null_count == len(values):
                continue
            converted = CONVERTERS[target](values)
            failed = pc.and_(pc.is_valid(values), pc.is_null(converted))
            n_failed = pc.sum(failed).as_py() or 0
            if n_failed:
                text = pc.utf8_slice_codeunits(as_string(values), 0, 200)
                reason = pc.binary_join_element_wise("cannot convert '", text, f"' to {target}", "")
                reason = pc.if_else(failed, reason, pa.scalar(None, pa.string()))
                errors = reason if errors is None else _join_errors(errors, reason)
                if n_failed == len(values) - values.null_count:
                    continue
            if fields.is_core(name):
                batch = fields.set_field(batch, name, converted, pc.is_valid(converted))
            else:
                batch = fields.set_field(batch, name, converted)
        return Processed(batch, errors)


def _join_errors(a: pa.Array, b: pa.Array) -> pa.Array:
    both = pc.binary_join_element_wise(a, b, "; ")
    return pc.if_else(pc.and_(pc.is_valid(a), pc.is_valid(b)), both, pc.coalesce(a, b))


def _numeric(values: pa.Array) -> bool:
    return bool(pa.types.is_integer(values.type) or pa.types.is_floating(values.type))


def _text(values: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(as_string(values))


def _only(values: pa.Array, ok: pa.Array) -> pa.Array:
    return pc.if_else(pc.fill_null(ok, False), values, pa.scalar(None, values.type))


def to_int(values: pa.Array) -> pa.Array:
    """int64; text must be an integer, floats must be whole, booleans become 0/1."""
    t = values.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pc.cast(values, pa.int64())
    if pa.types.is_floating(t):
        whole = pc.and_(pc.is_finite(values), pc.equal(pc.floor(values), values))
        return pc.cast(_only(values, whole), pa.int64(), safe=False)
    text = _text(values)
    return pc.cast(_only(text, pc.match_substring_regex(text, _INT_RE)), pa.int64())


def to_float(values: pa.Array) -> pa.Array:
    """float64 from numbers, booleans or numeric text (`1.5`, `-2e3`)."""
    if _numeric(values) or pa.types.is_boolean(values.type):
        return pc.cast(values, pa.float64())
    text = _text(values)
    return pc.cast(_only(text, pc.match_substring_regex(text, _FLOAT_RE)), pa.float64())


def to_bool(values: pa.Array) -> pa.Array:
    """bool from true/false/yes/no/on/off/1/0 (any case) or the numbers 0 and 1."""
    if pa.types.is_boolean(values.type):
        return values
    if _numeric(values):
        zero_one = pc.or_(pc.equal(values, 0), pc.equal(values, 1))
        return pc.cast(_only(values, zero_one), pa.bool_())
    text = pc.utf8_lower(_text(values))
    true = pc.is_in(text, _TRUE)
    known = pc.or_(true, pc.is_in(text, _FALSE))
    return _only(true, known)


def to_string(values: pa.Array) -> pa.Array:
    """Text (numbers formatted, nested values as JSON)."""
    return as_string(values)


def to_duration_ms(values: pa.Array) -> pa.Array:
    """float64 milliseconds from `150ms`, `1.5s`, `2m`, `1h30m`; plain numbers are milliseconds already."""
    if _numeric(values):
        return pc.cast(values, pa.float64())
    text = pc.utf8_lower(as_string(values))
    parts = pc.extract_regex(text, _DURATION_RE)
    number = pc.cast(pc.struct_field(parts, "n"), pa.float64())
    unit = pc.struct_field(parts, "u")
    factor = pc.take(_DURATION_FACTORS, pc.index_in(unit, _DURATION_UNITS))
    result = pc.multiply(number, factor)
    compound = pc.and_(pc.is_null(result), pc.fill_null(pc.match_substring_regex(text, _COMPOUND_RE), False))
    if pc.any(compound).as_py():
        candidates = pc.if_else(compound, text, pa.scalar(None, pa.string()))
        result = pc.coalesce(result, fields.map_unique(candidates, _compound_ms, pa.float64()))
    return result


def _compound_ms(text: str) -> float:
    return sum(float(n) * _DURATION_MS[u] for n, u in _COMPOUND_PART.findall(text))


def to_bytes(values: pa.Array) -> pa.Array:
    """int64 bytes from `512`, `10KiB`, `1.5MB`, `2g` (k/M/G/T = 1000ⁿ, Ki/Mi/Gi/Ti = 1024ⁿ)."""
    if pa.types.is_integer(values.type):
        return pc.cast(values, pa.int64())
    if pa.types.is_floating(values.type):
        return pc.cast(pc.floor(values), pa.int64(), safe=False)
    parts = pc.extract_regex(as_string(values), _BYTES_RE)
    number = pc.cast(pc.struct_field(parts, "n"), pa.float64())
    unit = pc.utf8_lower(pc.struct_field(parts, "u"))
    factor = pc.take(_BYTES_FACTORS, pc.index_in(unit, _BYTES_UNITS))
    return pc.cast(pc.floor(pc.multiply(number, factor)), pa.int64(), safe=False)


CONVERTERS: dict[str, Converter] = {
    "int": to_int,
    "float": to_float,
    "bool": to_bool,
    "string": to_string,
    "duration": to_duration_ms,
    "bytes": to_bytes,
}

CONFIGS = (ConvertConfig,)
