"""Row conditions of pipelines and processors: `match:` field matchers and `if:` search-language filters."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.pipeline import fields

# A condition gives one boolean per row of a wide batch (null counts as false).
Condition = Callable[[pa.Table], pa.Array]


def field_matcher(match: Mapping[str, str | Sequence[str]]) -> Condition:
    """All fields must hold one of their values; `*` and `?` are wildcards; compared as text."""
    tests: list[tuple[str, list[str], list[str]]] = []
    for name, wanted in match.items():
        values = [wanted] if isinstance(wanted, str) else list(wanted)
        exact = [v for v in values if "*" not in v and "?" not in v]
        globs = [glob_regex(v) for v in values if v not in exact]
        tests.append((name, exact, globs))

    def condition(batch: pa.Table) -> pa.Array:
        mask: pa.Array | None = None
        for name, exact, globs in tests:
            values = fields.get_strings(batch, name)
            if values is None:
                return pa.repeat(pa.scalar(False), batch.num_rows)
            hit = pc.is_in(values, pa.array(exact, pa.string())) if exact else pa.repeat(pa.scalar(False), len(values))
            for glob in globs:
                hit = pc.or_(hit, pc.match_substring_regex(values, glob))
            hit = pc.fill_null(hit, False)
            mask = hit if mask is None else pc.and_(mask, hit)
        return mask if mask is not None else pa.repeat(pa.scalar(True), batch.num_rows)

    return condition


def glob_regex(glob: str) -> str:
    """An anchored RE2 regex for a glob where `*` is any text and `?` one character."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob]
    return "(?s)^" + "".join(parts) + "$"


def filter_condition(text: str) -> Condition:
    """A search-language filter (`level:error AND status:>=500`) evaluated on wide batches.

    Raises ValueError with the position when the filter does not parse.
    """
    from logwarden.query.filter import compile_filter

    row_filter = compile_filter(text)

    def condition(batch: pa.Table) -> pa.Array:
        return row_filter.mask(batch)

    return condition


def all_of(conditions: Sequence[Condition]) -> Condition | None:
    """The conjunction of conditions, or None when there are none."""
    if not conditions:
        return None
    if len(conditions) == 1:
        return conditions[0]

    def condition(batch: pa.Table) -> pa.Array:
        mask = pc.fill_null(conditions[0](batch), False)
        for other in conditions[1:]:
            mask = pc.and_(mask, pc.fill_null(other(batch), False))
        return mask

    return condition
