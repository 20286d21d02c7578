"""`list`: lines whose field value is on a list (`mode: in`, a blacklist) or not on it (`not_in`, a whitelist).
An event rule (rules/events.py): each such line is an event; by default its alert carries the value.

The list is `values` and/or a column of a CSV file (`lookup`), read when the rule file is loaded — at start and
whenever the rule file is reloaded; editing only the CSV takes effect at the next load of its rule file. A CSV
that cannot be read fails the rule file's check, like any other setting. Matching is one vectorized `is_in` per
batch.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import BeforeValidator, Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from logwarden.rules.base import BatchCache
from logwarden.rules.events import EventRule
from logwarden.rules.model import FIELD_NAME_PATTERN, Rule, RuleSettings

MAX_LIST_VALUES = 10_000_000


def _as_text(value: Any) -> Any:
    """List entries as log values read: numbers and booleans as their JSON text (`404`, `true`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


ListValue = Annotated[str, BeforeValidator(_as_text)]


def read_column(path: Path, column: str | None, delimiter: str) -> tuple[str, ...]:
    """The values of one column of a CSV file with a header row (the first column by default), as text exactly
    as written (no type inference: `007` stays `007`), blanks dropped."""
    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f, delimiter=delimiter), None)
    if not header:
        raise ValueError("the file is empty (a header row is needed)")
    name = column or header[0]
    if name not in header:
        raise ValueError(f"no column {name!r} (the header has {', '.join(repr(h) for h in header)})")
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string()}, include_columns=[name], strings_can_be_null=False
        ),
    )
    values = pc.utf8_trim_whitespace(table.column(name))
    values = values.filter(pc.not_equal(values, ""))
    if len(values) > MAX_LIST_VALUES:
        raise ValueError(f"more than {MAX_LIST_VALUES} values")
    return tuple(pc.unique(values).to_pylist())


class ListFile(RuleSettings):
    """A CSV file (with a header row) whose column holds list entries."""

    file: Path
    """The CSV file; a relative path is relative to the rule file's directory."""
    column: str | None = None
    """The column holding the entries (default: the first)."""
    delimiter: str = Field(",", min_length=1, max_length=1)
    """CSV field separator."""

    _values: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _read(self, info: ValidationInfo) -> Self:
        path = self.file
        base = (info.context or {}).get("base_dir") if isinstance(info.context, Mapping) else None
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        try:
            self._values = read_column(path, self.column, self.delimiter)
        except (OSError, UnicodeDecodeError, ValueError, pa.ArrowInvalid) as exc:
            raise PydanticCustomError(
                "list_file", "cannot read list file {path}: {error}", {"path": str(path), "error": str(exc)}
            ) from None
        return self

    @property
    def values(self) -> tuple[str, ...]:
        """The entries read when the rule file was loaded."""
        return self._values


class ListRule(Rule):
    """Fires for a group when its lines carry a value of `field` that is on the list (`mode: in`) or not on it
    (`mode: not_in`); lines lacking the field never count. The list is `values` plus the `lookup` file's column,
    read when the rule file loads. With `label_value` (the default) each value alerts on its own, with the value
    in its labels. The alert resolves `window` after the last such line."""

    type: Literal["list"] = "list"
    """`list`."""
    field: str = Field(pattern=FIELD_NAME_PATTERN)
    """The field compared with the list (`user`, `attrs.client_ip`), as text."""
    mode: Literal["in", "not_in"] = "in"
    """`in`: lines whose value is on the list count (a blacklist); `not_in`: lines whose value is not (a
    whitelist)."""
    values: tuple[ListValue, ...] = ()
    """The list's entries (`[root, admin]`); numbers compare as written in the log (`404`)."""
    lookup: ListFile | None = None
    """More entries from a CSV file: `{file: blocked.csv, column: ip}`; read when the rule file loads (edit or
    reload the rule file to pick up a changed CSV)."""
    case_sensitive: bool = True
    """`false` compares values and entries case-insensitively."""
    label_value: bool = True
    """Add the field's value to the alert's labels (one alert per value); `false`: one alert per group,
    counting every value together."""
    threshold: float = Field(0, ge=0)
    """The alert fires when more than this many such lines (of one value, with `label_value`) fall in the
    window."""

    @field_validator("field")
    @classmethod
    def _field_not_tenant(cls, value: str) -> str:
        if value == "tenant":
            raise PydanticCustomError("field_name", "'tenant' cannot be listed: every rule is per tenant", {})
        return value

    @model_validator(mode="after")
    def _has_entries(self) -> Self:
        if not self.values and self.lookup is None:
            raise PydanticCustomError("list_empty", "give the list's `values`, a `lookup` file, or both", {})
        return self

    def entries(self) -> tuple[str, ...]:
        """Every entry: `values` and the lookup file's."""
        return self.values + (self.lookup.values if self.lookup is not None else ())

    def evaluator(self) -> ListEvaluator:
        return ListEvaluator(self)


class ListEvaluator(EventRule):
    """Lines whose value is (or is not) on the list are events."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec, extra_names=(spec.field,) if spec.label_value else ())
        self._entries: tuple[Any, pa.Array] | None = None

    def _listed(self) -> pa.Array:
        """The entries as an Arrow array (lower case unless case-sensitive), rebuilt when the rule is reloaded."""
        spec = self.spec
        if self._entries is None or self._entries[0] is not spec:
            entries = pa.array(sorted(set(spec.entries())), pa.string())
            if not spec.case_sensitive:
                entries = pc.unique(pc.utf8_lower(entries))
            self._entries = (spec, entries)
        return self._entries[1]

    def events(
        self, matched: pa.Table, keys: pa.Array, shared: BatchCache
    ) -> tuple[pa.Array | None, Mapping[str, pa.Array]]:
        value = shared.fields(self.filter.text, matched, [self.spec.field])[self.spec.field]
        compared = value if self.spec.case_sensitive else pc.utf8_lower(value)
        listed = pc.is_in(compared, value_set=self._listed())  # a missing value is on no list
        if self.spec.mode == "not_in":
            listed = pc.and_(pc.invert(listed), pc.is_valid(value))
        return listed, {self.spec.field: value.filter(listed)}
