"""`redact`: find PII (emails, card numbers, tokens, keys, passwords, phones, IPs) and mask, hash or drop it.

One RE2 pass per field picks the rows that may hold PII (most log lines hold none); only those rows
go through the detectors, vectorized where a match is enough, and in Python only for candidates that
need a check (Luhn, address parsing) or a keyed hash. `redactions` counts redacted values per detector.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Self

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, SecretStr, field_validator, model_validator

from logwarden.model.normalize import as_string
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.redact_detectors import DEFAULT_DETECTORS, DETECTOR_NAMES, DETECTORS, Detector

DetectorName = Literal["email", "credit_card", "ipv4", "ipv6", "phone", "jwt", "bearer", "aws_key", "password"]
Action = Literal["mask", "hash", "drop_field"]
_TOKEN_CACHE = 100_000
_MARK = "\x00"
# Up to this many candidate lines, Python's re beats compiling each RE2 pattern (~0.1 ms apiece).
_FEW = 16


def _default_detectors() -> list[DetectorName]:
    return [n for n in DEFAULT_DETECTORS]  # type: ignore[misc]


class RedactConfig(ProcessorConfig):
    """Replace PII in the message and text attributes by a mask or a keyed hash, or drop the field holding it."""

    type: Literal["redact"]
    detectors: list[DetectorName] = Field(default_factory=_default_detectors, min_length=1)
    """What to look for: email, credit_card (Luhn-checked), phone, jwt, bearer, aws_key, password (the value
    of `password=…`, `"secret": "…"`, `token: …` and similar keys), ipv4, ipv6. Default: all but ipv4/ipv6."""
    fields: list[str] | None = None
    """Fields to scan (default: `message` and every text attribute)."""
    action: Action = "mask"
    """`mask` replaces a match by `mask`; `hash` by `[<detector>:<hex>]`, a keyed HMAC-SHA256 of it, so equal
    values stay equal (joins and counts still work); `drop_field` removes an attribute holding a match (the
    message is masked instead)."""
    actions: dict[DetectorName, Action] = Field(default_factory=dict)
    """Per-detector actions overriding `action` (`{email: hash, credit_card: mask}`)."""
    mask: str = Field("[REDACTED:{detector}]", min_length=1)
    """The replacement text for `mask`; `{detector}` becomes the detector's name."""
    hash_key: SecretStr | None = None
    """The HMAC key for `hash` (required then); keep it secret and stable, or tokens change."""
    hash_length: int = Field(12, ge=8, le=64)
    """Hex digits of the HMAC kept in a hash token."""

    @field_validator("detectors")
    @classmethod
    def _unique(cls, v: list[DetectorName]) -> list[DetectorName]:
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _hash_key(self) -> Self:
        uses_hash = self.action == "hash" or "hash" in self.actions.values()
        if uses_hash and (self.hash_key is None or not self.hash_key.get_secret_value()):
            raise ValueError("action `hash` needs `hash_key`")
        unused = [d for d in self.actions if d not in self.detectors]
        if unused:
            raise ValueError(f"`actions` names detector {unused[0]!r}, which is not in `detectors`")
        return self

    def build(self, env: BuildEnv) -> Processor:
        # Detectors run in their fixed order (keyed secrets first), whatever order the config lists them in.
        names = [n for n in DETECTOR_NAMES if n in self.detectors]
        key = self.hash_key.get_secret_value().encode() if self.hash_key is not None else b""
        steps = tuple(
            _Step(DETECTORS[n], self.actions.get(n, self.action), self.mask.replace("{detector}", n)) for n in names
        )
        return Redact(steps, tuple(self.fields) if self.fields else None, key, self.hash_length)


@dataclass(frozen=True, slots=True)
class _Step:
    detector: Detector
    action: str
    mask: str

    @property
    def python(self) -> bool:
        """Whether matches need Python: a validator to confirm them or a hash to compute."""
        return self.detector.validate is not None or self.action == "hash"


class Redact(Processor):
    """Thread-safe: `redactions` is only updated under a lock."""

    def __init__(self, steps: tuple[_Step, ...], names: tuple[str, ...] | None, key: bytes, hash_length: int) -> None:
        self.steps = steps
        self.names = names
        self.key = key
        self.hash_length = hash_length
        self.redactions: Counter[str] = Counter()
        self._lock = threading.Lock()
        # Hash tokens of recent secrets (IPs, emails repeat): dict operations are atomic under the GIL.
        self._tokens: dict[tuple[str, str], str] = {}
        # Every pattern as one alternation: a single scan finds the rows worth looking at.
        self.prefilter = "|".join(f"(?:{p})" for s in steps for p in s.detector.patterns)
        self._compiled = {p: re.compile(p) for s in steps for p in s.detector.patterns}
        # RE2 rewrite strings: keep group 1 (the key or the character before), then the mask.
        self._rewrites = {s.mask: r"\1" + s.mask.replace("\\", "\\\\") for s in steps}

    def process(self, batch: pa.Table) -> Processed:
        n = batch.num_rows
        names: list[str] = []
        texts: list[pa.Array] = []
        for name in self._fields(batch):
            values = fields.get(batch, name)
            if values is not None and values.null_count < n:
                names.append(name)
                texts.append(as_string(values))
        if not names:
            return Processed(batch)
        # All scanned fields as one array: each regex is compiled and run once per batch, not once per field.
        joined = pa.concat_arrays(texts) if len(texts) > 1 else texts[0]
        candidates = pc.fill_null(pc.match_substring_regex(joined, self.prefilter), False)
        if not pc.any(candidates).as_py():
            return Processed(batch)
        subset = joined.filter(candidates)
        droppable = None
        if any(step.action == "drop_field" for step in self.steps):
            per_field = [pa.repeat(pa.scalar(name != "message" and not fields.is_core(name)), n) for name in names]
            droppable = pa.concat_arrays(per_field).filter(candidates)
        counts: Counter[str] = Counter()
        if len(subset) <= _FEW:
            few, few_dropped = self._redact_rows(
                subset.to_pylist(), counts, None if droppable is None else droppable.to_pylist()
            )
            subset = pa.array(few, pa.string())
            dropped = None if few_dropped is None else pa.array(few_dropped, pa.bool_())
        else:
            subset, dropped = self._redact(subset, counts, droppable)
        if dropped is not None:
            subset = pc.if_else(dropped, pa.scalar(None, pa.string()), subset)
        redacted = pc.replace_with_mask(joined, candidates, subset)
        for i, name in enumerate(names):
            if pc.any(candidates.slice(i * n, n)).as_py():
                batch = fields.set_field(batch, name, redacted.slice(i * n, n))
        if counts:
            with self._lock:
                self.redactions.update(counts)
        return Processed(batch)

    def _fields(self, batch: pa.Table) -> list[str]:
        if self.names is not None:
            return list(self.names)
        attrs = [c for c in fields.attribute_columns(batch) if pa.types.is_string(batch.schema.field(c).type)]
        return ["message", *attrs]

    def _redact(
        self, text: pa.Array, counts: Counter[str], droppable: pa.Array | None
    ) -> tuple[pa.Array, pa.Array | None]:
        """(redacted text, rows whose field is to be dropped) for the candidate rows."""
        dropped: pa.Array | None = None
        for step in self.steps:
            for pattern in step.detector.patterns:
                before = text
                if step.python:
                    hit = pc.fill_null(pc.match_substring_regex(text, pattern), False)
                    if not pc.any(hit).as_py():
                        continue
                    text = self._python_replace(text, hit, step, pattern, counts)
                else:
                    text = pc.replace_substring_regex(text, pattern, self._rewrites[step.mask])
                    # Count masks added (a literal count costs less than a second regex pass).
                    added = pc.sum(pc.count_substring(text, step.mask)).as_py() or 0
                    if added:
                        added -= pc.sum(pc.count_substring(before, step.mask)).as_py() or 0
                    if not added:
                        continue
                    counts[step.detector.name] += added
                if droppable is not None and step.action == "drop_field":
                    changed = pc.and_(pc.fill_null(pc.not_equal(before, text), False), droppable)
                    dropped = changed if dropped is None else pc.or_(dropped, changed)
        return text, dropped

    def _token(self, step: _Step, secret: str) -> str:
        if step.action != "hash":
            return step.mask
        name = step.detector.name
        cached = self._tokens.get((name, secret))
        if cached is None:
            digest = hmac.new(self.key, secret.encode(), hashlib.sha256).hexdigest()
            cached = f"[{name}:{digest[: self.hash_length]}]"
            if len(self._tokens) >= _TOKEN_CACHE:
                self._tokens.clear()  # crude bound; refilling costs one HMAC per value
            self._tokens[(name, secret)] = cached
        return cached

    def _replacer(self, step: _Step) -> Callable[[re.Match[str]], str]:
        """The replacement of one match: kept prefix + token, or the match itself when its check fails."""
        validate = step.detector.validate

        def replace(m: re.Match[str]) -> str:
            secret = m.group(2)
            if validate is not None and not validate(secret):
                return m.group(0)
            return m.group(1) + self._token(step, secret)

        return replace

    def _redact_rows(
        self, rows: list[str | None], counts: Counter[str], droppable: list[bool] | None
    ) -> tuple[list[str | None], list[bool] | None]:
        """The same as `_redact` in Python: cheaper than compiling every RE2 pattern for a few lines."""
        out: list[str | None] = []
        dropped: list[bool] | None = None if droppable is None else []
        for i, row in enumerate(rows):
            text, drop = row, False
            if text is not None:
                for step in self.steps:
                    for pattern in step.detector.patterns:
                        text, n = self._sub(step, pattern, text)
                        if n:
                            counts[step.detector.name] += n
                            drop = drop or (step.action == "drop_field" and droppable is not None and droppable[i])
            out.append(text)
            if dropped is not None:
                dropped.append(drop)
        return out, dropped

    def _sub(self, step: _Step, pattern: str, text: str) -> tuple[str, int]:
        """`text` with the matches of `pattern` replaced, and how many were (those passing the check)."""
        replace = self._replacer(step)
        changed = 0

        def counting(m: re.Match[str]) -> str:
            nonlocal changed
            new = replace(m)
            changed += new != m.group(0)
            return new

        return self._compiled[pattern].sub(counting, text), changed

    def _python_replace(
        self, text: pa.Array, hit: pa.Array, step: _Step, pattern: str, counts: Counter[str]
    ) -> pa.Array:
        """Replace the matches of `pattern` in the hit rows, deciding in Python once per distinct match.

        RE2 wraps every match in NUL markers; splitting on them puts the matches at the odd positions of
        each row's parts, which are mapped (validated, hashed) per distinct value and joined back.
        """
        compiled = self._compiled[pattern]
        name = step.detector.name
        replace = self._replacer(step)

        def replace_whole(match: str) -> str:
            m = compiled.fullmatch(match)
            return match if m is None else replace(m)

        rows = text.filter(hit)
        if pc.any(pc.match_substring(rows, _MARK)).as_py():
            # Text that holds the marker itself (never in practice): the slow, exact way.
            after = []
            for row in rows.to_pylist():
                new, n = self._sub(step, pattern, row)
                counts[name] += n
                after.append(new)
            return pc.replace_with_mask(text, hit, pa.array(after, pa.string()))
        parts = pc.split_pattern(pc.replace_substring_regex(rows, pattern, _MARK + r"\0" + _MARK), _MARK)
        flat = pc.list_flatten(parts)
        offsets = parts.offsets
        position = pc.subtract(pa.array(range(len(flat)), pa.int32()), pc.take(offsets, pc.list_parent_indices(parts)))
        is_match = pc.equal(pc.bit_wise_and(position, 1), 1)
        matches = pc.if_else(is_match, flat, pa.scalar(None, pa.string()))
        replaced = fields.map_unique(matches, replace_whole, pa.string())
        changed = pc.sum(pc.fill_null(pc.not_equal(replaced, matches), False)).as_py() or 0
        if not changed:
            return text
        counts[name] += changed
        joined = pc.binary_join(pa.ListArray.from_arrays(offsets, pc.coalesce(replaced, flat)), "")
        return pc.replace_with_mask(text, hit, joined)


CONFIGS: tuple[type[ProcessorConfig], ...] = (RedactConfig,)
