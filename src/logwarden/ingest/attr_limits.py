"""Attribute limits: most fields per record, most distinct attribute keys per tenant (`limits.*`, docs/security.md).

Applied by the sink to each wide batch after its pipelines (what would be stored), before the time window.
A record over either limit is never cut: it is stored whole as a **dead letter** — source `dead_letter`, the
reason in `attrs.error`, its attributes as one JSON text in `attrs.original_attrs` — so nothing is lost and the
tenant's key space does not grow. Each refused key is named in the reason the client gets back.

The keys a tenant has used live in `KeyCatalog`, kept in one small JSON file (written only when a batch brings
keys never seen before, so almost never once a tenant's shape has settled). Keys are admitted most frequent
first up to the cap; once full, only known keys pass. All work is per column (Arrow compute), never per line.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.config.model import Config
from logwarden.model.normalize import PREBUILT_ATTRS, WIDE_CORE, attr_column, attr_key, pack
from logwarden.pipeline.fields import expand_prebuilt

TOO_MANY_FIELDS = "too_many_fields"  # rejected-lines reason labels
ATTR_KEY_LIMIT = "attr_key_limit"
CATALOG_FILE = "attr_keys.json"
_SHOWN_KEYS = 5  # keys named in the answer's reason


class KeyCatalog:
    """Per tenant, the attribute keys its stored lines use; persisted to `path` (None: in memory only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()  # batches of one tenant are decoded on several pool threads
        self._keys: dict[str, set[str]] = {}
        if path is not None and path.exists():
            self._keys = {t: set(keys) for t, keys in json.loads(path.read_text()).items()}

    def count(self, tenant: str) -> int:
        """How many distinct keys `tenant` has used."""
        with self._lock:
            return len(self._keys.get(tenant, ()))

    def admit(self, tenant: str, keys: list[str], cap: int) -> set[str]:
        """Record `keys` (most wanted first) for `tenant` up to `cap` keys in all; the keys refused."""
        with self._lock:
            known = self._keys.setdefault(tenant, set())
            new = [k for k in keys if k not in known]
            if not new:
                return set()
            room = max(0, cap - len(known))
            known.update(new[:room])
            if room:
                self._save()
            return set(new[room:])

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({t: sorted(k) for t, k in self._keys.items()}))
        os.replace(tmp, self.path)  # atomic: a crash leaves the old file or the new one


@dataclass(slots=True)
class LimitOutcome:
    """A wide batch split by the attribute limits: lines to keep, dead letters, and what to tell the client."""

    kept: pa.Table
    dead: pa.Table | None = None
    by_reason: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    refused_keys: int = 0

    @property
    def dead_count(self) -> int:
        return 0 if self.dead is None else self.dead.num_rows


@dataclass(frozen=True, slots=True)
class AttrLimits:
    """The two limits of one server and the tenants' key catalog."""

    max_fields: int | None
    max_keys: int | None
    catalog: KeyCatalog

    def apply(self, wide: pa.Table, tenant: str) -> LimitOutcome:
        """Split `wide` (one tenant's batch) into the lines within the limits and dead letters for the others."""
        if wide.num_rows == 0 or (self.max_fields is None and self.max_keys is None):
            return LimitOutcome(wide)
        if PREBUILT_ATTRS in wide.column_names:
            wide = expand_prebuilt(wide)  # the per-record decode fallback's JSON: its keys must count too
        names = [n for n in wide.column_names if n not in WIDE_CORE and not n.startswith("__")]
        valid = {n: pc.is_valid(wide.column(n)) for n in names}
        outcome = LimitOutcome(wide)
        dead: list[pa.Table] = []
        if self.max_fields is not None and names:
            fields = pc.cast(valid[names[0]], pa.int32())
            for name in names[1:]:
                fields = pc.add(fields, pc.cast(valid[name], pa.int32()))
            over = pc.greater(fields, self.max_fields)
            if pc.any(over).as_py():
                reasons = pc.binary_join_element_wise(
                    "the record has ",
                    pc.cast(fields, pa.string()),
                    f" fields, more than the {self.max_fields} allowed (limits.max_fields_per_record)",
                    "",
                )
                dead.append(_dead_letters(wide.filter(over), reasons.filter(over)))
                outcome.by_reason[TOO_MANY_FIELDS] = dead[-1].num_rows
                outcome.reason = f"{dead[-1].num_rows} record(s) have more than {self.max_fields} fields"
                keep = pc.invert(over)
                wide = wide.filter(keep)
                valid = {n: v.filter(keep) for n, v in valid.items()}
        if self.max_keys is not None and wide.num_rows:
            present = {n: int(pc.sum(v).as_py() or 0) for n, v in valid.items()}
            wanted = sorted((n for n, c in present.items() if c), key=lambda n: (-present[n], n))
            refused = self.catalog.admit(tenant, [attr_key(n) for n in wanted], self.max_keys)
            if refused:
                columns = [n for n in wanted if attr_key(n) in refused]
                reason: pa.Array = pa.nulls(wide.num_rows, pa.string())
                for name in reversed(columns):  # each row names the first refused key it carries
                    text = (
                        f"attribute key {attr_key(name)!r} would take tenant {tenant!r} past its "
                        f"{self.max_keys} distinct attribute keys (limits.max_attr_keys_per_tenant)"
                    )
                    reason = pc.if_else(valid[name], pa.scalar(text), reason)
                hit = pc.is_valid(reason)
                dead.append(_dead_letters(wide.filter(hit), reason.filter(hit)))
                outcome.by_reason[ATTR_KEY_LIMIT] = dead[-1].num_rows
                outcome.refused_keys = len(refused)
                shown = ", ".join(repr(k) for k in sorted(refused)[:_SHOWN_KEYS])
                more = f" and {len(refused) - _SHOWN_KEYS} more" if len(refused) > _SHOWN_KEYS else ""
                text = (
                    f"{dead[-1].num_rows} record(s) bring attribute keys beyond tenant {tenant!r}'s limit of "
                    f"{self.max_keys} distinct keys (limits.max_attr_keys_per_tenant): {shown}{more}"
                )
                outcome.reason = f"{outcome.reason}; {text}" if outcome.reason else text
                wide = wide.filter(pc.invert(hit))
        outcome.kept = wide
        if dead:
            outcome.dead = dead[0] if len(dead) == 1 else pa.concat_tables(dead, promote_options="default")
        return outcome


def _dead_letters(rows: pa.Table, reasons: pa.Array) -> pa.Table:
    """`rows` as wide dead letters: the core columns, the reason, the source it came from, its attributes as
    one JSON text (so the dead letter adds no keys of its own)."""
    packed = pack(rows).column("attrs").combine_chunks()
    columns = {name: rows.column(name).combine_chunks() for name in WIDE_CORE}
    columns[attr_column("error")] = reasons
    columns[attr_column("original_source")] = columns["source"]
    columns[attr_column("original_attrs")] = packed
    columns["source"] = pa.repeat(pa.scalar("dead_letter", pa.string()), rows.num_rows)
    return pa.table(columns)


def attr_limits_for(config: Config) -> AttrLimits | None:
    """The server's attribute limits (None when neither is set); the key catalog in the data dir."""
    limits = config.limits
    if limits.max_fields_per_record is None and limits.max_attr_keys_per_tenant is None:
        return None
    path = config.data_dir / CATALOG_FILE if limits.max_attr_keys_per_tenant is not None else None
    return AttrLimits(limits.max_fields_per_record, limits.max_attr_keys_per_tenant, KeyCatalog(path))
