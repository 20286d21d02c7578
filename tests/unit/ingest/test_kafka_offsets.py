"""OffsetTracker: only stored offsets, only for partitions still owned under the same assignment."""

from __future__ import annotations

from logwarden.ingest.kafka.offsets import OffsetTracker

A0, A1 = ("a", 0), ("a", 1)


def test_stored_positions_of_owned_partitions_are_committed() -> None:
    t = OffsetTracker()
    t.assigned([A0, A1])
    claims = t.claims([A0, A1])
    assert t.to_commit() == {}  # read, not stored: nothing to commit
    t.stored({A0: 10, A1: 5}, claims)
    assert t.to_commit() == {A0: 10, A1: 5}
    t.committed({A0: 10, A1: 5})
    assert t.to_commit() == {}


def test_revoked_partition_is_not_committed_even_when_assigned_back() -> None:
    t = OffsetTracker()
    t.assigned([A0, A1])
    claims = t.claims([A0, A1])
    t.revoked([A0])
    t.assigned([A0])  # a new assignment: someone else may have read A0 in between
    t.stored({A0: 10, A1: 5}, claims)
    assert t.to_commit() == {A1: 5}


def test_revocation_drops_pending_commits_and_unowned_partitions_never_claim() -> None:
    t = OffsetTracker()
    t.assigned([A0])
    t.stored({A0: 3}, t.claims([A0]))
    t.revoked([A0])
    assert t.to_commit() == {}
    assert t.claims([A0, A1]) == {}
    t.stored({A1: 7}, {A1: 99})
    assert t.to_commit() == {}


def test_a_failed_commit_is_kept_and_merged_with_later_positions() -> None:
    t = OffsetTracker()
    t.assigned([A0])
    t.stored({A0: 10}, t.claims([A0]))
    # The commit of 10 failed; a later batch reached 20 before the next attempt.
    t.stored({A0: 20}, t.claims([A0]))
    assert t.to_commit() == {A0: 20}
    t.committed({A0: 10})  # a stale acknowledgement does not drop the newer position
    assert t.to_commit() == {A0: 20}
    t.committed({A0: 20})
    assert t.to_commit() == {}
    assert t.owned == [A0]
