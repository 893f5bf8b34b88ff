"""Per-asset lanes for the command writer: no asset waits behind another one's slow PLC.

Each asset gets a lane: its commands run one at a time, in log order, except that
safety actions (priority 0: the interlocks' stops) go before the setpoint changes
still waiting in the same lane. Lanes of different assets run concurrently.

Offsets of a partition complete out of order across lanes; ``OffsetTracker`` commits
a partition only up to its first unfinished command, so a crash re-reads exactly the
commands without a result (the writer's ledger skips those that have one).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import TopicPartition

SAFETY, NORMAL = 0, 1


class OffsetTracker:
    """Which offset each partition may commit: the first one not done yet."""

    def __init__(self) -> None:
        self._pending: dict[TopicPartition, set[int]] = {}
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}

    def started(self, tp: TopicPartition, offset: int) -> None:
        self._pending.setdefault(tp, set()).add(offset)
        self._next[tp] = max(self._next.get(tp, 0), offset + 1)

    def done(self, tp: TopicPartition, offset: int) -> None:
        if tp in self._pending:  # a partition handed over meanwhile is forgotten
            self._pending[tp].discard(offset)

    def floor(self, tp: TopicPartition) -> int | None:
        """The offset ``tp`` may commit now: its first unfinished command (or the next one to read);
        None for a partition not tracked (never read, or handed over)."""
        if tp not in self._next:
            return None
        pending = self._pending.get(tp)
        return min(pending) if pending else self._next[tp]

    def forget(self, tps) -> None:
        """Drop partitions handed over to another consumer (they are re-read from their commit)."""
        for tp in tps:
            self._pending.pop(tp, None)
            self._next.pop(tp, None)
            self._committed.pop(tp, None)

    def pending(self) -> int:
        return sum(len(p) for p in self._pending.values())

    def committable(self) -> dict[TopicPartition, int]:
        """Offsets to commit now (only partitions whose committable offset moved)."""
        out = {}
        for tp in self._next:
            offset = self.floor(tp)
            if offset > self._committed.get(tp, -1):
                out[tp] = offset
        return out

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        self._committed.update(offsets)


class Lane:
    """One asset's commands: one at a time, safety first, then log order."""

    def __init__(self, name: str, work: Callable[[Any], Awaitable[None]], min_interval_s: float = 0.0,
                 clock: Callable[[], float] | None = None):
        self.name = name
        self._work = work
        self._queue: asyncio.PriorityQueue = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._min_interval = min_interval_s
        self._clock = clock or asyncio.get_running_loop().time
        self._last_start: float | None = None
        self._task = asyncio.create_task(self._run(), name=f"lane {name}")

    def put(self, priority: int, item: Any) -> None:
        self._queue.put_nowait((priority, next(self._order), item))

    async def _run(self) -> None:
        while True:
            priority, _, item = await self._queue.get()
            if priority != SAFETY:  # the rate limit never holds back a safety action
                wait = rate_limit_wait(self._last_start, self._min_interval, self._clock())
                if wait > 0:
                    await asyncio.sleep(wait)
            self._last_start = self._clock()
            try:
                await self._work(item)
            finally:
                self._queue.task_done()

    async def drain(self, timeout: float) -> bool:
        """Wait until the lane is idle (True) or ``timeout`` passed (False)."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def rate_limit_wait(last_start: float | None, min_interval: float, now: float) -> float:
    """Seconds to wait before the next actuation of an asset (0: go now)."""
    if last_start is None or min_interval <= 0:
        return 0.0
    return max(0.0, last_start + min_interval - now)
