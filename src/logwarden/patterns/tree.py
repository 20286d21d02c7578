"""The clusterer: a Drain-style fixed-depth tree of templates for one (tenant, service).

A masked form (tokens separated by spaces) descends by its token count, then by its first token (`<*>` when
that token holds a digit or a placeholder, or when the length already has `max_children` first tokens), to a
leaf of templates of that shape. It joins the most similar template when at least `similarity` of its tokens
equal the template's (placeholders such as `<num>` count, generalized `<*>` positions do not: Drain's rule),
and the template generalizes where they differ. Otherwise it starts a template.

A template's id is the hash of the first form that made it and never changes, so a template that absorbs a new
variable position keeps its id; a template evicted and made again by the same form gets the same id back.
Memory is bounded: `max_templates` per tree (the least recently used is evicted) and `max_leaf` per leaf, so
a form never compares against more than `max_leaf` templates however varied the text.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import eq

WILDCARD = "<*>"
UNSEARCHED = (-1, "")  # the leaf key of templates started past the miner's budget: in no leaf
MAX_TOKENS = 64  # tokens past this are cut: they rarely tell templates apart and cost a comparison each


def template_id(scope: str, tokens: list[str]) -> str:
    """The stable id of a template first made by `tokens` in `scope` (tenant and service): 16 hex digits."""
    text = scope + "\x1f" + " ".join(tokens)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(eq=False, slots=True, weakref_slot=True)
class Template:
    """One template of a tree: its id, its tokens (`<*>` where it generalized), lines counted, recency."""

    id: str
    tokens: list[str]
    count: int = 0
    alive: bool = True  # False once evicted: form-cache entries pointing at it are stale
    leaf: tuple[int, str] = field(default=(0, ""))

    @property
    def text(self) -> str:
        """The template as text: tokens joined by spaces."""
        return " ".join(self.tokens)


def _route_token(token: str) -> bool:
    """True when a first token may name a branch (no digit, no placeholder): variables must not split trees."""
    return not (token.startswith("<") or any(map(str.isdigit, token)))


class TemplateTree:
    """Templates of one scope (tenant and service). Not thread-safe: the miner holds its lock around calls."""

    def __init__(
        self,
        scope: str,
        similarity: float = 0.5,
        max_templates: int = 2000,
        max_children: int = 100,
        max_leaf: int = 32,
    ) -> None:
        self.scope = scope
        self.similarity = similarity
        self.max_templates = max_templates
        self.max_children = max_children
        self.max_leaf = max_leaf
        # leaf → its templates, least recently used first (a dict as an ordered set: O(1) move and evict)
        self.leaves: dict[tuple[int, str], dict[Template, None]] = {}
        self.first_tokens: dict[int, set[str]] = {}
        self.by_id: OrderedDict[str, Template] = OrderedDict()  # least recently used first
        self.evicted = 0
        # Text of recently evicted templates (bounded like the live ones): the recorder names their lines'
        # pattern after eviction without masking a sample again.
        self.graveyard: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self.by_id)

    def __iter__(self) -> Iterator[Template]:
        return iter(list(self.by_id.values()))

    def add(self, masked: str) -> Template:
        """The template of a masked form, joining (and maybe generalizing) a template or starting one."""
        tokens = masked.split()[:MAX_TOKENS] or [""]
        key = self._leaf_key(tokens)
        leaf = self.leaves.setdefault(key, {})
        best: Template | None = None
        best_score = -1
        size = len(tokens)
        for candidate in leaf:
            score = sum(map(eq, candidate.tokens, tokens))
            if score > best_score:
                best, best_score = candidate, score
                if score == size:  # no candidate can beat an exact match
                    break
        if best is not None and best_score >= self.similarity * len(tokens):
            if best_score < len(tokens):
                best.tokens = [a if a == b else WILDCARD for a, b in zip(best.tokens, tokens, strict=True)]
            self.touch(best)
            return best
        return self._insert(tokens, key)

    def start(self, masked: str) -> Template:
        """The template a masked form starts without the similarity search (a batch's new forms past the
        miner's budget): the one it started before when still live (same id), else a new one. O(1). It is kept
        out of the leaves, so it neither crowds out (evicts) the searched templates nor draws later forms."""
        tokens = masked.split()[:MAX_TOKENS] or [""]
        id_ = template_id(self.scope, tokens)
        existing = self.by_id.get(id_)
        if existing is not None:
            self.touch(existing)
            return existing
        while len(self.by_id) >= self.max_templates:
            self._evict(next(iter(self.by_id.values())))
        template = Template(id_, list(tokens), leaf=UNSEARCHED)
        self.by_id[id_] = template
        return template

    def touch(self, template: Template, lines: int = 0) -> None:
        """Mark `template` used now (and count `lines` more lines of it); an evicted one is left alone (a batch
        of many new forms can evict a template it made itself)."""
        if not template.alive:
            return
        template.count += lines
        self.by_id.move_to_end(template.id)
        leaf = self.leaves.get(template.leaf)
        if leaf is not None:
            del leaf[template]
            leaf[template] = None

    def restore(self, template_id_: str, tokens: list[str], count: int = 0) -> Template:
        """Put back a template saved earlier (restart), keeping its id."""
        key = self._leaf_key(tokens)
        template = self._insert(tokens, key, template_id_)
        template.count = count
        return template

    def _leaf_key(self, tokens: list[str]) -> tuple[int, str]:
        n = len(tokens)
        first = tokens[0]
        if not _route_token(first):
            return (n, WILDCARD)
        known = self.first_tokens.setdefault(n, set())
        if first not in known:
            if len(known) >= self.max_children:
                return (n, WILDCARD)
            known.add(first)
        return (n, first)

    def _insert(self, tokens: list[str], key: tuple[int, str], id_: str | None = None) -> Template:
        leaf = self.leaves.get(key)
        if leaf is not None and len(leaf) >= self.max_leaf:
            self._evict(next(iter(leaf)))
        while len(self.by_id) >= self.max_templates:
            self._evict(next(iter(self.by_id.values())))
        template = Template(id_ or template_id(self.scope, tokens), list(tokens), leaf=key)
        existing = self.by_id.get(template.id)
        if existing is not None:  # the same first form again after a restore: one template per id
            self._evict(existing)
        self.leaves.setdefault(key, {})[template] = None
        self.by_id[template.id] = template
        self.touch(template)
        return template

    def _evict(self, template: Template) -> None:
        template.alive = False
        self.by_id.pop(template.id, None)
        leaf = self.leaves.get(template.leaf)
        if leaf is not None:
            leaf.pop(template, None)
            if not leaf:
                del self.leaves[template.leaf]
        self.evicted += 1
        self.graveyard[template.id] = template.text
        if len(self.graveyard) > self.max_templates:
            self.graveyard.popitem(last=False)
