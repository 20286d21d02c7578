"""The pattern miner: a `pattern_id` for every line of a core batch, Python per new masked form only.

Per batch: hash each line's (tenant, service, message with its digits and most digit runs' lengths made alike) to
64 bits (the key; numpy and polars, no regex), find the distinct keys (numpy) and look each up in the key cache
(key → template): a key seen before needs no masking. Only the first line of each new key is masked
(patterns/masking.py, vectorized); its (tenant, service, masked text) hash is resolved through the form cache
(hash → template), and forms not in it go to their scope's template tree (patterns/tree.py). The ids of the
distinct keys are then spread back over the lines. Thread-safe: the decode pool calls `assign` from several
threads; hashing and masking run outside the lock, the per-key and per-form Python inside it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.config.model import PatternsConfig
from logwarden.lazy import lazy_module
from logwarden.patterns.masking import KIND_NAMES, Masker, digit_runs_alike
from logwarden.patterns.tree import Template, TemplateTree

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")  # imported on first use (logwarden.lazy)

# A form's template id and the tree that holds it: the id, not the template, so an evicted template is freed
# (a cache of never-repeating forms would otherwise keep every template it ever made alive).
CacheEntry = tuple[str, TemplateTree]
Resolved = tuple[TemplateTree, Template]  # a key's or form's template now, and its tree
DEAD_LETTER = "dead_letter"  # the `source` of dead letters (model/normalize.py)
SEP = "\x1f"  # between tenant and service in a tree's scope, which template ids hash (unit separator)


@dataclass(frozen=True, slots=True)
class MinerSettings:
    """How the miner masks and clusters (config `patterns`)."""

    masks: tuple[str, ...] | None = None  # mask kinds (patterns/masking.py); None: all
    similarity: float = 0.5
    max_templates: int = 2000  # per (tenant, service)
    max_forms: int = 100_000  # form-cache entries (two generations of this many at most)
    max_children: int = 100
    max_leaf: int = 32
    max_scopes: int = 10_000  # (tenant, service) trees; the least recently used goes first beyond it
    max_new_forms: int = 256  # per batch through the similarity search; the rest start their own template


@dataclass(frozen=True, slots=True)
class SavedTemplate:
    """A template as the pattern store keeps it: enough to put it back after a restart with the same id."""

    tenant: str
    service: str
    id: str
    text: str
    count: int


class FormCache:
    """Form hash → template, bounded: two generations; when the young one fills, the old one is dropped
    (O(1), no per-entry bookkeeping), so hot forms survive by being copied forward on use."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.young: dict[int, CacheEntry] = {}
        self.old: dict[int, CacheEntry] = {}

    def __len__(self) -> int:
        return len(self.young) + len(self.old)

    def get(self, key: int) -> CacheEntry | None:
        entry = self.young.get(key)
        if entry is None:
            entry = self.old.get(key)
            if entry is not None:
                self.put(key, entry)
        return entry

    def put(self, key: int, entry: CacheEntry) -> None:
        if len(self.young) >= self.capacity:
            self.old, self.young = self.young, {}
        self.young[key] = entry

    def put_many(self, keys: list[int], entries: list[CacheEntry]) -> None:
        """`put` of each key (a batch's keys go to one generation: it may pass `capacity` by one batch)."""
        if len(self.young) + len(keys) > self.capacity:
            self.old, self.young = self.young, {}
        self.young.update(zip(keys, entries, strict=True))

    def get_many(self, keys: list[int]) -> list[CacheEntry | None]:
        """`get` of each key: the young generation in one C-level map, the old one for what it lacks."""
        found = list(map(self.young.get, keys))
        if self.old:
            old = self.old
            for i, entry in enumerate(found):
                if entry is None:
                    aged = old.get(keys[i])
                    if aged is not None:
                        self.put(keys[i], aged)
                        found[i] = aged
        return found

    def clear(self) -> None:
        self.young.clear()
        self.old.clear()


class PatternMiner:
    """Assigns template ids to lines, per (tenant, service), with bounded memory."""

    @classmethod
    def from_config(cls, config: PatternsConfig) -> PatternMiner | None:
        """The miner `config` asks for (None when pattern mining is off)."""
        if not config.enabled:
            return None
        return cls(
            MinerSettings(
                masks=tuple(config.masks),
                similarity=config.similarity,
                max_templates=config.max_templates_per_service,
                max_forms=config.max_forms,
                max_new_forms=config.max_new_forms_per_batch,
            )
        )

    def __init__(self, settings: MinerSettings | None = None) -> None:
        self.settings = settings or MinerSettings()
        self.masker = Masker(self.settings.masks)
        self.forms = FormCache(self.settings.max_forms)
        # Lines with their digits made alike (masking.digit_runs_alike) → template: a key seen before skips
        # masking.
        self.keys = FormCache(self.settings.max_forms)
        self.digits_key = "number" in (self.settings.masks if self.settings.masks is not None else KIND_NAMES)
        self.trees: dict[tuple[str, str], TemplateTree] = {}
        self.lock = threading.Lock()
        self.new_forms = 0  # forms the trees saw (cache misses), for the bench and metrics
        self.unsearched_forms = 0  # of those, forms past a batch's `max_new_forms` (no similarity search)

    def assign(self, table: pa.Table) -> pa.Table:
        """`table` (core schema) with its `pattern_id` column set; dead letters and lines without a message
        get null."""
        message = table.column("message")
        dead = pc.equal(table.column("source"), DEAD_LETTER)
        if pc.any(dead).as_py():  # undecodable text is not a kind of line: no template from it
            message = pc.if_else(dead, pa.scalar(None, pa.string()), message)
        ids = self.ids(table.column("tenant"), table.column("service"), message)
        index = table.column_names.index("pattern_id")
        return table.set_column(index, table.schema.field(index), ids)

    def ids(
        self,
        tenant: pa.Array | pa.ChunkedArray,
        service: pa.Array | pa.ChunkedArray,
        message: pa.Array | pa.ChunkedArray,
    ) -> pa.Array:
        """The template id of every line (null where the message is null)."""
        n = len(message)
        if n == 0:
            return pa.array([], pa.string())
        t_col = pl.Series("t", tenant).cast(pl.String)
        s_col = pl.Series("s", service).cast(pl.String)
        if message.null_count:
            valid = pc.is_valid(message).to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(valid)
        else:  # the usual batch: no null to find (a boolean column to numpy costs ~40 µs a batch)
            valid, rows = None, np.arange(n)
        # Lines alike but for their digits (a health check repeats verbatim; many lines differ only in numbers,
        # and the lengths of most digit runs) are one key: a key seen before gives its template without masking
        # (`digit_runs_alike`). Without the `number` kind, digits survive masking, so the raw line is the key.
        # The lines' own text is converted only when some key is new.
        raw = None if self.digits_key else pl.Series("m", message).cast(pl.String)
        keyed = pl.DataFrame(
            [t_col, s_col, pl.Series("m", digit_runs_alike(message, self.masker.max_chars)) if raw is None else raw]
        )
        hashes = keyed.hash_rows().to_numpy()
        keys, key_first, key_inverse = np.unique(
            hashes if valid is None else hashes[rows], return_index=True, return_inverse=True
        )
        key_counts = np.bincount(key_inverse, minlength=len(keys)).tolist()  # lines per key
        key_hashes = keys.tolist()
        with self.lock:
            known = self._known_keys(key_hashes)
        missing = [i for i, k in enumerate(known) if k is None]
        if missing:
            # Only the first line of each unknown key is masked; a 64-bit hash of (tenant, service, masked text)
            # keys the form cache: no key strings are built or kept (a collision is about 1 in 10^10 per 100k
            # forms).
            frame = pl.DataFrame([t_col, s_col, pl.Series("m", message).cast(pl.String) if raw is None else raw])
            if len(missing) == n:  # all distinct, none null: mask the frame as it is
                lines, line_of = frame, key_first[missing]
            else:
                lines, line_of = frame[rows[key_first[missing]]], np.arange(len(missing))
            lines = lines.with_columns(self.masker.mask(lines.get_column("m")).alias("m"))
            forms, form_first, form_inverse = np.unique(
                lines.hash_rows().to_numpy(), return_index=True, return_inverse=True
            )
            weights = np.zeros(len(lines), dtype=np.int64)
            weights[line_of] = np.asarray(key_counts, dtype=np.int64)[missing]
            form_counts = np.bincount(form_inverse, weights=weights, minlength=len(forms)).astype(np.int64)
            form_of = form_inverse[line_of].tolist()
        with self.lock:
            self._touch_known(known, key_counts)
            if missing:
                entries = self._resolve_all(forms.tolist(), form_counts.tolist(), lines, form_first)
                resolved = [entries[form] for form in form_of]
                for i, entry in zip(missing, resolved, strict=True):
                    known[i] = entry
                self.keys.put_many([key_hashes[i] for i in missing], [(t.id, tree) for tree, t in resolved])
        # Spread the keys' ids back over the lines without a Python object per line.
        key_ids = pa.array([k[1].id if k is not None else None for k in known], pa.string())
        if valid is None:
            return pc.take(key_ids, pa.array(key_inverse))
        per_line = np.full(n, -1, dtype=np.int64)
        per_line[rows] = key_inverse
        return pc.take(key_ids, pa.array(per_line, mask=~valid))

    def _known_keys(self, hashes: list[int]) -> list[Resolved | None]:
        """The tree and live template of each key hash in the key cache (None: mask and resolve the line)."""
        return [
            None if entry is None or (template := entry[1].by_id.get(entry[0])) is None else (entry[1], template)
            for entry in self.keys.get_many(hashes)
        ]

    @staticmethod
    def _touch_known(known: list[Resolved | None], counts: list[int]) -> None:
        """Count the lines of the keys found in the key cache on their templates, and mark those used now."""
        used: dict[Template, tuple[TemplateTree, int]] = {}
        for k, lines in zip(known, counts, strict=True):
            if k is not None:
                seen = used.get(k[1])
                used[k[1]] = (k[0], lines + seen[1]) if seen is not None else (k[0], lines)
        for template, (tree, lines) in used.items():
            tree.touch(template, lines)

    def _resolve_all(
        self, hashes: list[int], counts: list[int], frame: pl.DataFrame, firsts: np.ndarray
    ) -> list[Resolved]:
        """The tree and template of each distinct form hash; forms the cache lacks are read from `frame` (their
        first row) and go to their scope's tree: the `max_new_forms` with the most lines through the similarity
        search, the rest start (or find again) a template of their own, so a burst of new text costs O(1) per
        form. Counts the lines on the templates."""
        out: list[Resolved | None] = []
        used: dict[Template, tuple[TemplateTree, int]] = {}
        missing: list[int] = []
        for i, entry in enumerate(self.forms.get_many(hashes)):
            template = entry[1].by_id.get(entry[0]) if entry is not None else None
            if entry is None or template is None:  # never seen, or its template was evicted (by_id: live ones)
                missing.append(i)
                out.append(None)
                continue
            out.append((entry[1], template))
            seen = used.get(template)
            used[template] = (entry[1], counts[i] + (seen[1] if seen is not None else 0))
        if missing:
            budget = self.settings.max_new_forms
            if len(missing) > budget:  # the forms with most lines get the search
                missing.sort(key=lambda i: -counts[i])
            texts = frame[firsts[missing].tolist()].rows()
            for rank, (i, (tenant, service, masked)) in enumerate(zip(missing, texts, strict=True)):
                self.new_forms += 1
                tree = self._tree(tenant or "", service or "")
                if rank < budget:
                    made = tree.add(masked)
                else:
                    made = tree.start(masked)
                    self.unsearched_forms += 1
                self.forms.put(hashes[i], (made.id, tree))
                out[i] = (tree, made)
                tree.touch(made, counts[i])
        for template, (tree, lines) in used.items():
            tree.touch(template, lines)
        return [r for r in out if r is not None]

    def _tree(self, tenant: str, service: str) -> TemplateTree:
        scope = (tenant, service)
        tree = self.trees.pop(scope, None)
        if tree is None:
            if len(self.trees) >= self.settings.max_scopes:
                oldest = next(iter(self.trees))
                for template in self.trees.pop(oldest):
                    template.alive = False
            s = self.settings
            tree = TemplateTree(SEP.join(scope), s.similarity, s.max_templates, s.max_children, s.max_leaf)
        self.trees[scope] = tree  # most recently used scope last
        return tree

    def templates(self, tenant: str, service: str) -> list[Template]:
        """The live templates of one scope, least recently used first."""
        with self.lock:
            tree = self.trees.get((tenant, service))
            return list(tree) if tree is not None else []

    def template(self, tenant: str, service: str, template_id: str) -> Template | None:
        """The live template with this id in a scope, or None (never made, or evicted)."""
        with self.lock:
            tree = self.trees.get((tenant, service))
            return tree.by_id.get(template_id) if tree is not None else None

    def template_text(self, tenant: str, service: str, template_id: str) -> str | None:
        """The text of a live or recently evicted template (None: unknown to the miner)."""
        return self.template_texts([(tenant, service, template_id)])[0]

    def template_texts(self, keys: Sequence[tuple[str, str, str]]) -> list[str | None]:
        """`template_text` of many (tenant, service, id) under one hold of the lock the decode threads share."""
        out: list[str | None] = []
        with self.lock:
            for tenant, service, template_id in keys:
                tree = self.trees.get((tenant, service))
                live = tree.by_id.get(template_id) if tree is not None else None
                if live is not None:
                    out.append(live.text)
                else:
                    out.append(tree.graveyard.get(template_id) if tree is not None else None)
        return out

    def rename(self, tenant: str, service: str, old: str, new: str) -> bool:
        """Give a live template another id (a rebuild from stored lines keeps the ids those lines carry); False
        when there is no such template or `new` is taken."""
        with self.lock:
            tree = self.trees.get((tenant, service))
            if tree is None or old not in tree.by_id or new in tree.by_id:
                return False
            template = tree.by_id.pop(old)
            template.id = new
            tree.by_id[new] = template
            return True

    def masked_text(self, message: str) -> str:
        """One message as the miner sees it: masked, tokens joined by single spaces."""
        return self.masked_texts([message])[0]

    def masked_texts(self, messages: list[str]) -> list[str]:
        """`masked_text` of many messages in one masking pass."""
        masked = self.masker.mask(pa.array(messages, pa.string())).to_list()
        return [" ".join((m or "").split()) for m in masked]

    def template_count(self) -> int:
        """Live templates over all scopes."""
        with self.lock:
            return sum(len(t) for t in self.trees.values())

    def export(self) -> Iterator[SavedTemplate]:
        """Every live template, for the pattern store."""
        with self.lock:
            saved = [
                SavedTemplate(tenant, service, t.id, t.text, t.count)
                for (tenant, service), tree in self.trees.items()
                for t in tree
            ]
        return iter(saved)

    def restore(self, saved: Sequence[SavedTemplate]) -> None:
        """Put back templates saved earlier (after a restart): lines of their kind get the same ids again."""
        with self.lock:
            for s in saved:
                self._tree(s.tenant, s.service).restore(s.id, s.text.split(" "), s.count)
            self.forms.clear()
            self.keys.clear()
