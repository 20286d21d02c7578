"""Event-time windows: bucketed per-group counts, the watermark, late lines, and checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa

from logwarden.rules.windows import CountWindow, Watermark, bucket_for, group_keys

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def times(*seconds: float) -> pa.Array:
    return pa.array([T0 + timedelta(seconds=s) for s in seconds], TS)


def test_bucket_is_a_sixtieth_of_the_window_and_at_least_a_second() -> None:
    assert bucket_for(timedelta(minutes=1)) == timedelta(seconds=1)
    assert bucket_for(timedelta(hours=1)) == timedelta(minutes=1)
    assert bucket_for(timedelta(seconds=10)) == timedelta(seconds=1)
    assert bucket_for(timedelta(milliseconds=500)) == timedelta(milliseconds=500)


def test_counts_per_group_over_the_sliding_window() -> None:
    w = CountWindow(timedelta(minutes=1))
    w.add(pa.array(["api", "api", "web", "api"]), times(0, 10, 20, 59))
    assert w.values(T0 + timedelta(seconds=59)) == {"api": 3, "web": 1}
    # 70 s: the lines at 0 and 10 s have left the window (it covers (10 s, 70 s]).
    w.add(pa.array(["web"]), times(65))
    assert w.values(T0 + timedelta(seconds=70)) == {"api": 1, "web": 2}
    # Far later every bucket has expired and the groups are forgotten.
    assert w.values(T0 + timedelta(minutes=10)) == {}
    assert w.groups == 0


def test_lines_after_the_head_are_not_counted_until_it_reaches_them() -> None:
    w = CountWindow(timedelta(minutes=1))
    w.add(pa.array(["api", "api"]), times(5, 30))
    assert w.values(T0 + timedelta(seconds=10)) == {"api": 1}
    assert w.values(T0 + timedelta(seconds=31)) == {"api": 2}


def test_a_line_later_than_the_allowed_lateness_is_counted_as_late() -> None:
    w = CountWindow(timedelta(minutes=1), lateness=timedelta(seconds=5))
    w.add(pa.array(["api"]), times(100))
    w.values(T0 + timedelta(seconds=100))
    # The window is (40 s, 100 s]; a line down to 35 s is still taken (5 s lateness, outside this window);
    # one at 10 s can no longer be placed.
    w.add(pa.array(["api", "api", "api", "api"]), times(10, 36, 45, 99))
    assert w.late_lines == 1
    assert w.values(T0 + timedelta(seconds=100)) == {"api": 3}
    assert w.values(T0 + timedelta(seconds=106)) == {"api": 2}  # 45 s has left the window now


def test_a_snapshot_restores_the_same_window() -> None:
    w = CountWindow(timedelta(minutes=1))
    w.add(pa.array(["a", "b", "a"]), times(1, 2, 3))
    w.values(T0 + timedelta(seconds=5))
    again = CountWindow(timedelta(minutes=1))
    again.restore(w.snapshot())
    assert again.values(T0 + timedelta(seconds=30)) == w.values(T0 + timedelta(seconds=30)) == {"a": 2, "b": 1}
    again.add(pa.array(["a"]), times(-100))
    assert again.late_lines == 1  # the horizon came back too


def test_the_head_is_the_newest_event_time_and_never_passes_the_clock() -> None:
    wm = Watermark(timedelta(seconds=5))
    assert wm.head(T0) is None
    wm.observe(times(10, 3))
    assert wm.head(T0 + timedelta(minutes=1)) == T0 + timedelta(seconds=10)
    wm.observe(times(4))  # older lines never move it back
    assert wm.head(T0 + timedelta(minutes=1)) == T0 + timedelta(seconds=10)
    wm.observe(times(3600))  # a line stamped an hour ahead of the clock
    assert wm.head(T0 + timedelta(seconds=20)) == T0 + timedelta(seconds=20)


def test_group_keys_join_fields_and_missing_ones_are_empty() -> None:
    table = pa.table({"service": ["api", None, "web"], "host": ["h1", "h2", None]})
    assert group_keys(table, ["service"]).to_pylist() == ["api", "", "web"]
    assert group_keys(table, ["service", "host"]).to_pylist() == ["api\x1fh1", "\x1fh2", "web\x1f"]
    assert group_keys(table, []).to_pylist() == ["", "", ""]
    assert group_keys(table, ["absent"]).to_pylist() == ["", "", ""]


def test_counts_grouped_by_second_fold_into_the_same_buckets_as_lines() -> None:
    import pyarrow.compute as pc

    keys = pa.array(["a", "b", "a", "a", "b", "a"])
    ts = times(0.2, 1.5, 7.9, 64, 65.5, 130)
    secs = pc.divide(pc.cast(ts, pa.int64()), 1_000_000)
    grouped = pa.table({"k": keys, "s": secs}).group_by(["k", "s"]).aggregate([("s", "count")])
    folded = grouped.column("k").to_pylist(), grouped.column("s").to_pylist(), grouped.column("s_count").to_pylist()
    for window in (timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=2)):
        by_line, by_second = CountWindow(window, lateness=timedelta(seconds=5)), CountWindow(window)
        by_second.lateness = timedelta(seconds=5)
        assert by_second.whole_seconds
        by_line.add(keys, ts)
        by_second.add_seconds(*folded)
        for head in (10, 70, 200, 9000):
            at = T0 + timedelta(seconds=head)
            assert by_line.values(at) == by_second.values(at), (window, head)
        # Late lines are counted alike too.
        by_line.add(pa.array(["a"]), times(-1000))
        by_second.add_seconds(["a"], [int((T0 + timedelta(seconds=-1000)).timestamp())], [1])
        assert by_line.late_lines == by_second.late_lines == 1
    assert not CountWindow(timedelta(milliseconds=500)).whole_seconds


def test_the_ring_wraps_around_over_many_windows_and_keeps_exact_counts() -> None:
    w = CountWindow(timedelta(seconds=10))  # ten 1 s buckets; the ring holds lateness + two windows
    w.values(T0)
    for second in range(0, 100):
        w.add(pa.array(["a"] * (second % 3 + 1)), times(*[second] * (second % 3 + 1)))
        got = w.values(T0 + timedelta(seconds=second))
        want = sum(s % 3 + 1 for s in range(max(0, second - 9), second + 1))
        assert got == {"a": want}, second


def test_lines_stamped_beyond_the_ring_wait_until_the_head_comes_near() -> None:
    w = CountWindow(timedelta(seconds=10))
    w.values(T0)
    w.add(pa.array(["a", "b"]), times(5, 3600))  # b an hour ahead of the head
    assert w.values(T0 + timedelta(seconds=5)) == {"a": 1}
    assert w.groups == 2  # b is held, not forgotten
    again = CountWindow(timedelta(seconds=10))
    again.restore(orjson.loads(orjson.dumps(w.snapshot())))
    for window in (w, again):
        assert window.values(T0 + timedelta(seconds=3600)) == {"b": 1}


def test_a_checkpoint_from_before_the_ring_restores() -> None:
    w = CountWindow(timedelta(minutes=1))
    w.restore({"late": 2, "horizon": None, "counts": {"a": [[int(T0.timestamp()) + 1, 4]]}})
    assert w.values(T0 + timedelta(seconds=30)) == {"a": 4} and w.late_lines == 2


def test_thousands_of_groups_grow_the_ring_and_groups_that_go_quiet_free_their_rows() -> None:
    w = CountWindow(timedelta(seconds=10))
    w.values(T0)
    keys = [f"g{i}" for i in range(5000)]
    w.add(pa.array(keys), times(*[1] * 5000))
    assert w.values(T0 + timedelta(seconds=2), above=0, keep=()) == dict.fromkeys(keys, 1)
    assert w.values(T0 + timedelta(seconds=2), above=1, keep=["g7"]) == {"g7": 1}
    assert w.values(T0 + timedelta(seconds=60)) == {} and w.groups == 0
    w.add(pa.array(["new"]), times(61))
    assert w.values(T0 + timedelta(seconds=61)) == {"new": 1}
