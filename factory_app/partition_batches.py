"""Deliver a fetch's records to the processor runtime as one batch per partition.

Faust hands every record to its streams one at a time: a Message object, sensor
calls, a conductor lookup, a channel queue, the Stream's iteration and a per-event
ack; measured, that machinery alone caps a worker well below Quix Streams
(docs/benchmarks.md). For the topics the runtime registers, this consumer passes
each partition's slice of a fetch to the runtime's handler as it came from aiokafka,
and acknowledges each slice as a whole once the handler has applied it and the
changelog records it produced are with the producer (the handler returns a future for
those sends; the loop goes on fetching and folding meanwhile). The handler gets all the
fetch's slices at once, so it can run the control decisions of every partition before
the rest of the work. Every other topic still goes through Faust's per-message path.

Faust keeps everything else: the group, assignment, pausing for table recovery, the
commit (which flushes the producer first) and rebalancing. A revocation waits for a
batch in progress as it waits for unacked messages; a batch fetched before a
rebalance is dropped (its partitions are re-read from the committed offsets).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from time import monotonic
from typing import Any

import faust
from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.futures import notify

from factory_app.private_apis import set_fetch_max_wait, set_read_committed

# The topics' partition slices of one fetch, [(partition, its records in offset order)] ->
# per partition: None when applied, or a future done once what applying them started (the
# changelog sends) is safe to commit behind.
FetchHandler = Callable[[list[tuple[TP, list[Any]]]], Awaitable[dict[TP, "asyncio.Future | None"]]]
# Fetches whose changelog sends are still under way, at most: then the loop waits for the oldest.
MAX_SETTLING = 64


class _InFlight:
    """Stands in the consumer's unacked set while a batch is processed (rebalances wait for it).

    Faust reads the set's members as Messages: a revocation's ``wait_empty`` drops those whose
    ``acked`` is true and logs their ``refcount`` while it waits, so a marker has both (without
    them a revocation during a batch crashed the worker: AttributeError 'acked')."""

    __slots__ = ("tps", "acked", "__weakref__")  # the unacked set is a WeakSet
    refcount = 1  # one batch in progress

    def __init__(self, tps: tuple[TP, ...]):
        self.tps = tps
        self.acked = False

    def __repr__(self) -> str:
        return f"<batch of {len(self.tps)} partitions, {'settled' if self.acked else 'in progress'}>"


class _ShortPollThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, with the broker's long poll cut to ``fetch_max_wait_ms``.

    aiokafka keeps one fetch request in flight per broker, for the partitions that have no
    records buffered. Right after a fetch returns telemetry, the next request asks only for
    the quiet partitions (commands, results), and the broker holds it for Faust's fixed
    1,500 ms ``fetch_max_wait_ms``: telemetry appended meanwhile waits for it. Measured in
    bench.capacity: fetches of 12,000 records every ~1.7 s with 1-s gaps between them, and
    freshness p99 over 2 s at 7,500 events/s with the worker half idle.
    """

    fetch_max_wait_ms = 1500

    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        set_fetch_max_wait(consumer, self.fetch_max_wait_ms)
        # Aborted records (a transactional mirror's retries on a central cluster) are not events.
        set_read_committed(consumer)
        return consumer


class PartitionBatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer; a fetch's records of ``batch_topics`` go to ``fetch_handler`` at once."""

    batch_topics: set[str] | frozenset[str] = frozenset()  # the runtime's own set: topics join as declared
    fetch_handler: FetchHandler | None = None
    fetch_max_wait_ms = 1500  # Faust's own value

    def _new_consumer_thread(self):
        thread = type("ShortPollThread", (_ShortPollThread,), {"fetch_max_wait_ms": self.fetch_max_wait_ms})
        return thread(self, loop=self.loop, beacon=self.beacon)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settling: set[asyncio.Future] = set()  # fetches applied, their changelog sends under way

    async def _drain_messages(self, fetcher: Any) -> None:  # the Fetcher service's loop, as in Faust
        if not self.batch_topics:
            return await super()._drain_messages(fetcher)
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                records, active = await self._wait_next_records(1.0)
                await self.sleep(0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    await self.perform_seek()  # as Faust's getmany: re-read from the committed offsets
                    continue
                await self._deliver(records, active, self.app.consumer_generation_id)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    async def _deliver(self, records: dict, active: set | None, generation: int) -> None:
        batches: list[tuple[TP, list]] = []
        for tp, batch in records.items():
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            batch = self._unread(tp, batch)
            if not batch:
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            if tp.topic in self.batch_topics:
                batches.append((tp, batch))
            else:
                await self._deliver_each(tp, batch)
            if not self.flow_active or self.app.consumer_generation_id != generation:
                return  # a rebalance began: what was fetched is read again from the committed offsets
        if batches:
            await self._deliver_batches(batches)
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()

    async def _deliver_batches(self, batches: list[tuple[TP, list]]) -> None:
        # From the last offset read: offsets the log skipped (transaction markers, compaction)
        # are acknowledged with the batch, so commits do not stall on them.
        spans = {}
        for tp, batch in batches:
            read = self._read_offset[tp]
            spans[tp] = (batch[0].offset if read is None else min(read, batch[0].offset), batch[-1].offset)
        marker = _InFlight(tuple(spans))
        self._unacked_messages.add(marker)  # a revocation waits until the fetch is settled
        try:
            settling = await self.fetch_handler(batches)
        except BaseException:
            self._settled(marker)
            raise
        waits = []
        for tp, (first, last) in spans.items():
            self._read_offset[tp] = last
            # Faust's slow-processing check reads when a partition's stream last took an event.
            self.app.monitor.stream_inbound_time[tp] = monotonic()
            fut = settling.get(tp)
            if fut is None:
                self.ack_range(tp, first, last)
            else:
                fut.add_done_callback(self._ack_when_sent(tp, first, last))
                waits.append(fut)
        if not waits:
            self._settled(marker)
            return
        every = asyncio.gather(*waits, return_exceptions=True)
        self._settling.add(every)
        every.add_done_callback(self._fetch_settled(marker))
        if len(self._settling) > MAX_SETTLING:
            await asyncio.wait(self._settling, return_when=asyncio.FIRST_COMPLETED)

    def _ack_when_sent(self, tp: TP, first: int, last: int):
        def done(sent: asyncio.Future) -> None:
            # A failed send has already stopped the worker (tables.batched): nothing to acknowledge.
            if not sent.cancelled() and sent.exception() is None:
                self.ack_range(tp, first, last)
        return done

    def _fetch_settled(self, marker: _InFlight):
        def done(every: asyncio.Future) -> None:
            self._settling.discard(every)
            self._settled(marker)
        return done

    def _settled(self, marker: _InFlight) -> None:
        marker.acked = True
        self._unacked_messages.discard(marker)
        notify(self._waiting_for_ack)

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, which a rebalance may overtake.

        aiokafka's ``seek_to_committed`` awaits each partition's committed offset, then seeks it:
        a revocation in between makes the seek raise ``IllegalStateError`` ("No current assignment"),
        one before it an ``AssertionError`` (none assigned). Either ended the worker (seen in CI with
        two workers, one killed). The rebalance that changed the assignment seeks its partitions
        again when it resumes the streams, so nothing is read from a wrong offset by skipping."""
        try:
            await super().perform_seek()
        except (IllegalStateError, AssertionError) as exc:  # raised only when the assignment changed
            self.log.info("Seek to committed offsets overtaken by a rebalance (%s); it seeks again", exc)

    def _unread(self, tp: TP, batch: list) -> list:
        """The records at or after the read offset (Faust's own loop drops the ones before it)."""
        read = self._read_offset[tp]
        if read is None or batch[0].offset >= read:
            return batch
        return [r for r in batch if r.offset >= read]

    async def _deliver_each(self, tp: TP, batch: list) -> None:
        """Faust's own per-message path, for topics no batch handler took."""
        callback = self.callback
        acks = self.app.topics.acks_enabled_for(tp.topic)
        for record in batch:
            read = self._read_offset[tp]
            if acks and read is not None and record.offset - read > 1:
                # Offsets the log skipped (transaction markers, aborted records): recorded as
                # Faust's own loop does, or its commit stops for good before a gap of two or more.
                await self._add_gap(tp, read + 1, record.offset - 1)
            message = self._to_message(tp, record)
            await self.wait_first(callback(message), self.suspend_flow.wait())
            self._read_offset[tp] = record.offset

    def ack_range(self, tp: TP, first: int, last: int) -> None:
        """Acknowledge offsets ``first..last`` of ``tp`` at once (what Faust's ``ack`` does per message)."""
        if not self.app.topics.acks_enabled_for(tp.topic):
            return
        committed = self._committed_offset[tp]
        if committed is not None:
            first = max(first, committed)
        index = self._acked_index[tp]
        fresh = [o for o in range(first, last + 1) if o not in index] if index else list(range(first, last + 1))
        if not fresh:
            return
        index.update(fresh)
        self._acked[tp].extend(fresh)
        self._n_acked += len(fresh)


def install(app: faust.App, topics: set[str], handler: FetchHandler, fetch_max_wait_ms: int = 1500) -> None:
    """Make ``app``'s consumer hand each fetch's records of ``topics`` to ``handler``, and have the
    broker hold an empty fetch at most ``fetch_max_wait_ms`` (see ``_ShortPollThread``).

    Must run before the app creates its consumer (i.e. while the app is being declared)."""
    app.transport.Consumer = type("PartitionBatchConsumer", (PartitionBatchConsumer,),
                                  {"batch_topics": topics, "fetch_handler": staticmethod(handler),
                                   "fetch_max_wait_ms": fetch_max_wait_ms})
