"""The operators' mode of each asset as the command writer knows it: the operator-actions topic,
read to its end before the writer takes a command and followed from then on.

The writer asks it at the moment of a write, as it checks the deadline: a rule's command queued,
or retrying an unreachable PLC, when an operator took the asset into manual is then refused,
whatever the worker decided before it folded the change (issue 29, item 10).
"""

from __future__ import annotations

import asyncio
import logging

from factory_app import events
from factory_app.kafka_clients import partitions_of, start_consumer
from factory_app.settings import Settings

log = logging.getLogger(__name__)

RETRY_TOPIC_S = 5.0  # a deployment older than the topic: look for it again this often


def manual_refusal(change: events.ModeChange | None) -> str | None:
    """Why a rule may not act on an asset with this last mode change (None: it may). Pure."""
    if change is None or change.mode != "manual":
        return None
    reason = f": {change.reason}" if change.reason else ""
    return (f"{change.asset_id} is in manual (set by {change.operator} at event time {change.event_time:.3f}"
            f"{reason}); the rules' commands are refused while an operator has it, interlock stops excepted")


class ModeWatch:
    """Last ModeChange per asset, in the log's order (a later offset wins, as in the folds)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.topic = settings.topic(events.OPERATOR_ACTIONS)
        self._last: dict[str, events.ModeChange] = {}
        self._consumer = None
        self._task: asyncio.Task | None = None

    def last(self, asset_id: str) -> events.ModeChange | None:
        return self._last.get(asset_id)

    def refusal(self, asset_id: str) -> str | None:
        return manual_refusal(self._last.get(asset_id))

    def absorb(self, value: bytes | None) -> None:
        try:
            change = events.decode(value, expect=(events.ModeChange,))
        except events.DecodeFailure:
            return  # the worker dead-letters it; it changes no mode
        self._last[change.asset_id] = change

    async def start(self) -> None:
        """Read the topic to its end (the modes as of now), then follow it in the background."""
        self._consumer = await start_consumer(bootstrap=self.settings.kafka, enable_auto_commit=False,
                                              isolation_level="read_committed")
        tps = await self._assign()
        if tps:
            ends = await self._consumer.end_offsets(tps)
            while [tp for tp in tps if await self._consumer.position(tp) < ends[tp]]:
                await self._poll(500)
        log.info("modes as of now: %s", ", ".join(f"{a} {c.mode}" for a, c in sorted(self._last.items())) or
                 "every asset auto")
        self._task = asyncio.create_task(self._follow(bool(tps)))

    async def _assign(self) -> list:
        tps = await partitions_of(self._consumer, self.topic)
        if tps:
            self._consumer.assign(tps)
            await self._consumer.seek_to_beginning(*tps)
        return tps

    async def _poll(self, timeout_ms: int) -> None:
        for records in (await self._consumer.getmany(timeout_ms=timeout_ms)).values():
            for rec in records:
                self.absorb(rec.value)

    async def _follow(self, assigned: bool) -> None:
        while True:
            try:
                if not assigned:
                    await asyncio.sleep(RETRY_TOPIC_S)
                    assigned = bool(await self._assign())
                    continue
                await self._poll(200)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the broker away: the consumer retries, so do we
                log.warning("reading %s: %s; trying again", self.topic, exc)
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await asyncio.wait_for(self._consumer.stop(), 10.0)
