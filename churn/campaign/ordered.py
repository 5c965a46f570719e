"""A bounded, in-order thread pool: the campaign's chunks and the offline engine's blocks both go through it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def ordered_map(
    fn: Callable[[Item], Result],
    items: Iterable[Item],
    in_flight: int,
    *,
    name: str = "ordered",
    interrupt: Callable[[], None] | None = None,
) -> Generator[Result, None, None]:
    """fn(item) for every item, `in_flight` calls at a time on as many threads, yielded in input order.

    One more item is queued than there are threads, so no thread waits while the caller takes a result;
    memory stays bounded by in_flight + 1 items and their results. When the iteration ends (finished,
    failed or abandoned by the caller), `interrupt` runs first (say, an Event that stops the calls in
    flight from retrying), then queued calls are cancelled and running ones waited for.
    """
    pool = ThreadPoolExecutor(in_flight, thread_name_prefix=name)
    pending: deque[Future[Result]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        if interrupt is not None:
            interrupt()
        pool.shutdown(wait=True, cancel_futures=True)
