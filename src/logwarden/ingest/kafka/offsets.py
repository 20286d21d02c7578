"""Which offsets the consumer may commit: only stored ones, only for partitions it still owns.

Every assignment of a partition gets a new epoch. A batch remembers the epoch of each partition it
read from; once the batch is stored its positions become commitable only if the partition is still
owned under that same epoch. A partition revoked (or lost) in between, even if assigned back, is left
to whoever reads it next: they resume from the last committed offset, so the batch is read again
(a bounded duplicate) rather than a newer owner's progress overwritten.

Used from the consumer thread only (rebalance callbacks run inside `consume`), so no locking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

TopicPartition = tuple[str, int]


class OffsetTracker:
    """Owned partitions with their assignment epochs, and stored-but-uncommitted positions."""

    def __init__(self) -> None:
        self._epoch = 0
        self._owned: dict[TopicPartition, int] = {}
        self._pending: dict[TopicPartition, int] = {}

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._epoch += 1
            self._owned[tp] = self._epoch

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._owned.pop(tp, None)
            self._pending.pop(tp, None)

    @property
    def owned(self) -> list[TopicPartition]:
        return list(self._owned)

    def claims(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The current epochs of `partitions` (those not owned are left out): taken when a batch is read."""
        return {tp: self._owned[tp] for tp in partitions if tp in self._owned}

    def stored(self, positions: Mapping[TopicPartition, int], claims: Mapping[TopicPartition, int]) -> None:
        """A batch is durable: its next-offset `positions` may be committed where the claim still holds."""
        for tp, position in positions.items():
            epoch = claims.get(tp)
            if epoch is not None and self._owned.get(tp) == epoch:
                self._pending[tp] = max(self._pending.get(tp, position), position)

    def to_commit(self) -> dict[TopicPartition, int]:
        """Positions stored but not committed yet (a failed commit stays here for the next attempt)."""
        return dict(self._pending)

    def committed(self, positions: Mapping[TopicPartition, int]) -> None:
        """These positions are committed; forget them unless a newer one was stored meanwhile."""
        for tp, position in positions.items():
            if self._pending.get(tp) == position:
                del self._pending[tp]
