"""`csv` (delimited columns with quoting) and `dissect` (`%{a} %{b} [%{ts}]` tokenization by literals)."""

from __future__ import annotations

import csv
import io
import re
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from pydantic import Field

from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorBuildError
from logwarden.pipeline.parsers.common import (
    ExtractingParserConfig,
    check_field_name,
    check_re2,
    error_array,
    prefixed,
    read_source,
    scatter,
    set_outputs,
    struct_fields,
)

_NULL_TEXT = pa.scalar(None, pa.string())


class CsvConfig(ExtractingParserConfig):
    """Split delimited text into named columns (`columns: [ts, user, action]`); values are text, empty
    values are not set. A line with more values than columns names the extras `column<N>` (1-based)."""

    type: Literal["csv"]
    columns: list[str] = Field(min_length=1)
    """Field names, in column order."""
    delimiter: str = Field(",", min_length=1, max_length=1)
    """The separator character (`\\t` for TSV)."""
    quote: str = Field('"', min_length=1, max_length=1)
    """The quote character; inside quotes a doubled quote is a literal one."""
    trim: bool = False
    """Strip spaces around values."""

    def build(self, env: BuildEnv) -> Processor:
        for name in self.columns:
            try:
                check_field_name(prefixed(self.target, name))
            except ValueError as exc:
                raise ProcessorBuildError("columns", str(exc)) from None
        if len(set(self.columns)) != len(self.columns):
            raise ProcessorBuildError("columns", "column names must be unique")
        if self.delimiter == self.quote:
            raise ProcessorBuildError("quote", "the quote character must differ from the delimiter")
        return CsvParser(self)


class CsvParser(Processor):
    """pyarrow's CSV reader over the lines of a batch; lines it refuses (other column counts) go through
    Python's csv module one by one."""

    def __init__(self, config: CsvConfig) -> None:
        self.config = config

    def process(self, batch: pa.Table) -> Processed:
        config = self.config
        source = read_source(batch, config.field)
        if not source.any:
            return Processed(batch, error_array(config, source, None, ""))
        usable = pc.and_(source.present, pc.not_equal(pc.fill_null(source.text, ""), ""))
        texts = pc.filter(source.text, usable)
        columns = self._read(texts)
        outputs = {prefixed(config.target, name): scatter(values, usable) for name, values in columns.items()}
        batch = set_outputs(batch, outputs, usable, overwrite=config.overwrite)
        return Processed(batch, error_array(config, source, usable, "empty line"))

    def _read(self, texts: pa.Array) -> dict[str, pa.Array]:
        config = self.config
        lines = texts.to_pylist()
        invalid: list[int] = []

        def on_invalid(row: pcsv.InvalidRow) -> str:
            invalid.append(row.number)
            return "skip"

        body = "\n".join(lines).encode()
        table: pa.Table | None = None
        if not any("\n" in line or "\r" in line for line in lines):
            try:
                table = pcsv.read_csv(
                    io.BytesIO(body),
                    read_options=pcsv.ReadOptions(column_names=config.columns, use_threads=False),
                    parse_options=pcsv.ParseOptions(
                        delimiter=config.delimiter,
                        quote_char=config.quote,
                        ignore_empty_lines=False,
                        invalid_row_handler=on_invalid,
                    ),
                    convert_options=pcsv.ConvertOptions(
                        column_types=dict.fromkeys(config.columns, pa.string()),
                        null_values=[""],
                        strings_can_be_null=True,
                        quoted_strings_can_be_null=True,
                    ),
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                table = None
        if table is None or table.num_rows + len(invalid) != len(lines) or any(n < 1 for n in invalid):
            return self._python_rows(lines)
        good = pa.array([True] * len(lines))
        if invalid:
            good = pc.invert(pc.is_in(pa.array(range(1, len(lines) + 1)), pa.array(invalid, pa.int64())))
        columns = {name: scatter(table.column(name).combine_chunks(), good) for name in config.columns}
        if invalid:
            # Lines with another number of values: Python's csv module, for those lines only.
            slow = self._python_rows([lines[n - 1] for n in invalid])
            bad = pc.invert(good)
            for name, values in slow.items():
                spread = scatter(values, bad)
                columns[name] = pc.coalesce(columns[name], spread) if name in columns else spread
        if config.trim:
            columns = {name: pc.utf8_trim(values, " ") for name, values in columns.items()}
        return {name: pc.if_else(pc.equal(v, ""), _NULL_TEXT, v) for name, v in columns.items()}

    def _split(self, line: str) -> list[str]:
        """The values of one line; a newline outside quotes stays inside the value it interrupts."""
        reader = csv.reader(io.StringIO(line, newline=""), delimiter=self.config.delimiter, quotechar=self.config.quote)
        try:
            physical = list(reader)
        except csv.Error:
            return [line]
        values: list[str] = []
        for row in physical:
            if values and row:
                values[-1] += "\n" + row[0]
                values.extend(row[1:])
            else:
                values.extend(row)
        return values

    def _python_rows(self, lines: list[str]) -> dict[str, pa.Array]:
        config = self.config
        rows = [self._split(line) for line in lines]
        width = max([len(config.columns), *(len(r) for r in rows)])
        names = [*config.columns, *(f"column{i + 1}" for i in range(len(config.columns), width))]
        columns = {}
        for index, name in enumerate(names):
            values = [r[index] if index < len(r) and r[index] != "" else None for r in rows]
            if config.trim:
                values = [v.strip(" ") if v is not None else None for v in values]
            columns[name] = pa.array(values, pa.string())
        return columns


_DISSECT_KEY = re.compile(r"%\{([^}]*)\}")


class DissectConfig(ExtractingParserConfig):
    """Split text by the literal text between `%{field}` keys: `%{client} - [%{time}] "%{request}"`.

    Each key takes the text up to the next literal (the last key takes the rest); the whole text must
    match. `%{}` or `%{?name}` skips a part, `%{+name}` appends to an earlier `%{name}` (joined with
    `append_separator`), `%{name->}` also skips repeats of the literal after it (padding).
    """

    type: Literal["dissect"]
    pattern: str = Field(min_length=1)
    """The tokenization pattern."""
    append_separator: str = " "
    """Text between the parts of a field built with `%{+name}`."""

    def build(self, env: BuildEnv) -> Processor:
        regex, groups = compile_dissect(self.pattern)
        check_re2(regex, "pattern")
        for name, _ in groups:
            try:
                check_field_name(prefixed(self.target, name))
            except ValueError as exc:
                raise ProcessorBuildError("pattern", str(exc)) from None
        return DissectParser(self, regex, groups)


def compile_dissect(pattern: str) -> tuple[str, list[tuple[str, bool]]]:
    """(anchored RE2 regex with groups g0…, [(field, is_append)] per group) for a dissect pattern."""
    parts: list[str] = ["^"]
    groups: list[tuple[str, bool]] = []
    keys = list(_DISSECT_KEY.finditer(pattern))
    if not keys:
        raise ProcessorBuildError("pattern", "a dissect pattern needs at least one %{key}")
    position = 0
    seen: set[str] = set()
    padding = False
    for number, m in enumerate(keys):
        literal = pattern[position : m.start()]
        if number > 0 and not literal:
            raise ProcessorBuildError("pattern", f"keys need literal text between them (before {m.group(0)!r})")
        parts.append(f"(?:{re.escape(literal)})+" if padding and literal else re.escape(literal))
        position = m.end()
        key = m.group(1).strip()
        padding = key.endswith("->")
        key = key.removesuffix("->")
        last = number == len(keys) - 1
        capture = ".*" if last and position == len(pattern) else ".*?"
        if key in ("", "?") or key.startswith("?"):
            parts.append(f"(?:{capture})")
            continue
        if key[0] in "*&":
            raise ProcessorBuildError("pattern", f"reference keys ({m.group(0)}) are not supported")
        append = key.startswith("+")
        name = key[1:].split("/")[0] if append else key
        if append and name not in seen:
            raise ProcessorBuildError("pattern", f"{m.group(0)} appends to a key that does not come before it")
        seen.add(name)
        parts.append(f"(?P<g{len(groups)}>{capture})")
        groups.append((name, append))
    tail = pattern[position:]
    parts.append(f"(?:{re.escape(tail)})+" if padding and tail else re.escape(tail))
    parts.append("$")
    return "".join(parts), groups


class DissectParser(Processor):
    def __init__(self, config: DissectConfig, regex: str, groups: list[tuple[str, bool]]) -> None:
        self.config = config
        self.regex = regex
        self.groups = groups

    def process(self, batch: pa.Table) -> Processed:
        config = self.config
        source = read_source(batch, config.field)
        if not source.any:
            return Processed(batch, error_array(config, source, None, ""))
        # Empty parts set nothing (struct_fields makes them null).
        matched, values = struct_fields(pc.extract_regex(source.text, self.regex))
        outputs: dict[str, pa.Array] = {}
        separator = pa.scalar(config.append_separator, pa.string())
        for index, (name, append) in enumerate(self.groups):
            column = values[f"g{index}"]
            key = prefixed(config.target, name)
            if append and key in outputs:
                before = outputs[key]
                joined = pc.binary_join_element_wise(before, separator, column, "")
                outputs[key] = pc.if_else(pc.is_null(before), column, pc.if_else(pc.is_null(column), before, joined))
            else:
                outputs[key] = column
        batch = set_outputs(batch, outputs, matched, overwrite=config.overwrite)
        return Processed(batch, error_array(config, source, matched, "text does not match the dissect pattern"))


CONFIGS = (CsvConfig, DissectConfig)
