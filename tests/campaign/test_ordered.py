"""ordered_map: results in input order, never more calls at once than asked, and a clean stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.campaign.ordered import ordered_map


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 0.002), max_size=30), st.integers(1, 4))
def test_results_come_in_input_order_with_at_most_in_flight_calls(delays: list[float], in_flight: int) -> None:
    running, most, lock = 0, 0, threading.Lock()

    def call(item: tuple[int, float]) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(item[1])  # calls finish out of order
        with lock:
            running -= 1
        return item[0]

    assert list(ordered_map(call, enumerate(delays), in_flight)) == list(range(len(delays)))
    assert most <= in_flight


def test_a_caller_that_stops_early_interrupts_first_and_leaves_nothing_running() -> None:
    interrupted = threading.Event()
    seen: list[str] = []

    def call(item: int) -> int:
        if item == 0:
            return item
        interrupted.wait(5)  # a call that only ends once interrupted (a retry loop, say)
        seen.append("call ended after interrupt" if interrupted.is_set() else "call timed out")
        return item

    def items() -> Iterator[int]:
        yield from range(100)

    results = ordered_map(call, items(), 2, interrupt=interrupted.set)
    with pytest.raises(RuntimeError):
        for _ in results:
            raise RuntimeError("the caller fails")
    results.close()
    assert interrupted.is_set() and seen and set(seen) == {"call ended after interrupt"}
    assert not [t for t in threading.enumerate() if t.name.startswith("ordered")]


def test_a_failing_call_fails_the_iteration_at_its_place() -> None:
    def call(item: int) -> int:
        if item == 3:
            raise ValueError("bad item")
        return item

    got: list[int] = []
    with pytest.raises(ValueError, match="bad item"):
        got.extend(ordered_map(call, range(10), 2))
    assert got == [0, 1, 2]
