"""Event rules: a rule type says which matching lines are *events* (a new value, a changed value, a listed
value); a group's alert fires when its count of events in `window` is above `threshold` (default 0: the first
event) and resolves once the window holds none, so `window` is how long an alert stays after its last event.

`EventRule` is a `GroupRule` whose `add` asks the type's `events` hook for the event lines of a batch (vectorized)
and the extra labels each event adds to its group (`new_value`: the new values; `change`: `from` and `to`), and
counts the events per (group, extra labels) in a `CountWindow`. The event lines are the alert's evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.rules.base import SEP, BatchCache, GroupRule
from logwarden.rules.windows import CountWindow


def label_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Field values as label text: a missing value is "", and the group-key separator cannot occur."""
    text = pc.replace_substring(pc.fill_null(pc.cast(values, pa.string()), ""), SEP, " ")
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def join_keys(parts: Sequence[pa.Array | pa.ChunkedArray]) -> pa.Array:
    """Row-wise `SEP`-join of text columns (null where any part is null)."""
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, SEP)
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


class EventRule(GroupRule):
    """Counts events per group over `window` (see the module docstring).

    Subclasses implement `events` and may keep state across batches (`state_snapshot`/`state_restore`, and
    `prune`, called at each evaluation with the head). `extra_names` are the label names the events add after
    the group's labels; an event's key is its group key followed by those values.
    """

    def __init__(self, spec: Any, *, extra_names: Sequence[str] = (), threshold: float | None = None) -> None:
        if threshold is None:
            threshold = float(getattr(spec, "threshold", 0.0))
        super().__init__(spec, threshold=threshold)
        self.extra_names: list[str] = [n for n in extra_names if n not in self.label_names]
        self.window = CountWindow(spec.window, lateness=spec.max_delay)

    # --- hooks -------------------------------------------------------------------------------------

    def events(
        self, matched: pa.Table, keys: pa.Array, shared: BatchCache
    ) -> tuple[pa.Array | None, Mapping[str, pa.Array]]:
        """The events among a batch's matching lines: their row indices in `matched` (int) or a mask over it
        (bool), or None for none; and for each of `extra_names` its value per event, aligned with the events."""
        raise NotImplementedError

    def prune(self, at: datetime) -> None:
        """Forget state no later line can need (called at each evaluation with the head)."""

    def state_snapshot(self) -> Any:
        return None

    def state_restore(self, state: Any) -> None:
        """Take back a `state_snapshot`."""

    # --- GroupRule -----------------------------------------------------------------------------------

    def add(self, matched: pa.Table, keys: pa.Array, shared: BatchCache) -> tuple[pa.Array, pa.Table] | None:
        picked, extras = self.events(matched, keys, shared)
        if picked is None or len(picked) == 0:
            return None
        index = pc.indices_nonzero(picked) if pa.types.is_boolean(picked.type) else picked
        if len(index) == 0:
            return None
        lines = matched.take(index)
        event_keys = keys.take(index)
        if self.extra_names:
            event_keys = join_keys([event_keys, *(label_text(extras[n]) for n in self.extra_names)])
        self.window.add(event_keys, lines.column("ts"))
        return event_keys, lines

    def values(self, at: datetime) -> dict[str, float]:
        self.prune(at)
        return {k: float(v) for k, v in self.window.values(at).items()}

    def labels_of(self, key: str) -> dict[str, str]:
        names = [*self.label_names, *self.extra_names]
        parts = key.split(SEP)
        parts += [""] * (len(names) - len(parts))
        return dict(zip(names, parts, strict=False))

    def alert_keys(self) -> set[str]:
        names = [*self.label_names, *self.extra_names]
        return {SEP.join(a.labels.get(n, "") for n in names) for a in self.tracker.alerts.values()}

    def window_snapshot(self) -> Any:
        return {"events": self.window.snapshot(), "state": self.state_snapshot()}

    def window_restore(self, state: Any) -> None:
        self.window.restore(state["events"])
        self.state_restore(state.get("state"))

    @property
    def late_lines(self) -> int:
        return self.window.late_lines

    @property
    def groups(self) -> int:
        return self.window.groups
