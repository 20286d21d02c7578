"""BatchBuilder: limits by lines, bytes and age; stream positions after each batch."""

from __future__ import annotations

from logwarden.agent.batch import BatchBuilder


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def records(n: int, size: int = 10) -> list[bytes]:
    return [b"r" * (size - 1) + b"\n" for _ in range(n)]


def test_seals_by_line_count_with_positions_at_the_next_record() -> None:
    b = BatchBuilder(max_lines=3, max_bytes=1 << 20, max_wait=1.0, clock=FakeClock())
    sealed = b.add("s1", records(7), starts=[0, 10, 20, 30, 40, 50, 60], end=70)
    assert [x.lines for x in sealed] == [3, 3]
    assert [x.positions for x in sealed] == [{"s1": 30}, {"s1": 60}]
    last = b.seal()
    assert last is not None and last.lines == 1 and last.positions == {"s1": 70}
    assert b.seal() is None


def test_seals_by_bytes_and_keeps_streams_apart() -> None:
    b = BatchBuilder(max_lines=100, max_bytes=25, max_wait=1.0, clock=FakeClock())
    assert b.add("a", records(2), [0, 10], 20) == []
    sealed = b.add("b", records(2), [100, 110], 120)
    assert len(sealed) == 1
    assert sealed[0].payload == b"".join(records(2))
    assert sealed[0].positions == {"a": 20}
    rest = b.seal()
    assert rest is not None and rest.positions == {"b": 120} and rest.lines == 2
    b = BatchBuilder(max_lines=100, max_bytes=40, max_wait=1.0, clock=FakeClock())
    b.add("a", records(2), [20, 30], 40)
    assert b.add("b", records(1), [120], 130) == []
    both = b.seal()
    assert both is not None and both.positions == {"a": 40, "b": 130} and both.size == 30


def test_a_record_larger_than_max_bytes_goes_alone() -> None:
    b = BatchBuilder(max_lines=100, max_bytes=25, max_wait=1.0, clock=FakeClock())
    sealed = b.add("a", [b"x" * 99 + b"\n", b"small\n"], [0, 100], 106)
    assert [x.lines for x in sealed] == [1]
    assert sealed[0].positions == {"a": 100}


def test_due_after_max_wait_from_the_first_record() -> None:
    clock = FakeClock()
    b = BatchBuilder(max_lines=100, max_bytes=1 << 20, max_wait=1.0, clock=clock)
    assert not b.due()
    clock.now = 5.0
    b.add("a", records(1), [0], 10)
    clock.now = 5.9
    assert not b.due()
    b.add("a", records(1), [10], 20)
    clock.now = 6.0
    assert b.due()


def test_positions_without_records() -> None:
    b = BatchBuilder(max_lines=100, max_bytes=1 << 20, max_wait=1.0, clock=FakeClock())
    assert b.add("a", [], [], 42) == []
    batch = b.seal()
    assert batch is not None and batch.lines == 0 and batch.payload == b"" and batch.positions == {"a": 42}
