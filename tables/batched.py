"""A Faust table that takes a partition's writes as one batch: one RocksDB write batch, one run of changelog sends.

Faust's per-key write is a RocksDB put, a FutureMessage through the producer buffer
(drained one message per event-loop turn), an aiokafka send and, on its ack, a second
RocksDB put of the persisted offset. A batch of a thousand keys paid that a thousand
times (docs/benchmarks.md). Here ``stage`` writes a batch's changes to the partition's
RocksDB in one write batch and queues their changelog records; ``publish`` hands each
partition's records to the producer as one record batch (aiokafka ``send_batch``) and
records the persisted offset once per partition, when that batch is acknowledged.

Everything else stays Faust's: the store, the changelog topic and its partitioning,
recovery, standbys, and the commit, which flushes the producer before it commits the
source offsets, so the source offsets of a batch never pass its changelog records.
A table is staged then published before the batch's events are acknowledged.

Local RocksDB runs ahead of the changelog between ``stage`` and the acks, as with
Faust's own path; a worker that dies there leaves local state that is discarded at
its next start (``factory_app.local_state``). A failed send crashes the worker for the
same reason: going on would leave the local state ahead of a changelog that never gets
those records (the redelivered events are skipped per key).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.streams import current_event
from faust.types import TP
from rocksdict import WriteBatch

from factory_app import private_apis

log = logging.getLogger(__name__)

DELETE = object()  # a change that removes the key
_UNREAD = object()


class BatchedTable(faust.Table):
    """A ``faust.Table`` with a batch write path (``stage`` + ``publish``) beside the per-key one."""

    # Decoded values kept in memory (write-through) for ``read``; cleared when partitions move.
    CACHE_MAX = 200_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outbox: list[tuple[int, bytes, bytes | None]] = []
        self._tails: dict[int, asyncio.Future] = {}  # partition -> its latest changelog send
        self._cache: dict[Any, Any] = {}

    def read(self, key: Any) -> Any:
        """The value of ``key`` (None when absent) in the current event's partition.

        One RocksDB lookup and decode the first time, then from memory: the cache is written
        through by ``stage`` and dropped whenever Faust writes the store itself (recovery,
        standby updates) or partitions move. Values must not be mutated in place (the folds
        return new values; ``tables.write_behind`` relies on the same).
        """
        value = self._cache.get(key, _UNREAD)  # not try/except: misses are common (every new window)
        if value is not _UNREAD:
            return value
        value = private_apis.raw_get(self.data, key)
        self._remember(key, value)
        return value

    def _remember(self, key: Any, value: Any) -> None:
        if len(self._cache) >= self.CACHE_MAX:
            self._cache.clear()  # rarely: the working set of one worker is its assets' keys
        self._cache[key] = value

    async def on_rebalance(self, *args: Any, **kwargs: Any) -> None:
        self._cache.clear()
        await super().on_rebalance(*args, **kwargs)

    def apply_changelog_batch(self, batch) -> None:
        self._cache.clear()
        super().apply_changelog_batch(batch)

    def encode(self, changes: list[tuple[Any, Any]]) -> list[tuple[Any, bytes, bytes | None]]:
        """``(key, raw key, raw value or None for DELETE)`` of each change; raises (writing nothing)
        on a value the store cannot serialize."""
        store = self.data
        return [(key, private_apis.encode_key(store, key),
                 None if value is DELETE else private_apis.encode_value(store, value))
                for key, value in changes]

    def stage(self, changes: list[tuple[Any, Any]], encoded: list | None = None) -> None:
        """Write ``(key, value or DELETE)`` changes, in order, to the current event's partition.

        The RocksDB write is one batch; the changelog records wait in the outbox for ``publish``.
        ``encoded`` is ``encode(changes)`` when the caller already has it (validation encodes).
        """
        event = current_event()
        if event is None:
            raise RuntimeError("BatchedTable.stage needs a current event (see agents.live.acting_for)")
        partition = event.message.partition
        if encoded is None:
            encoded = self.encode(changes)
        store = self.data
        batch = WriteBatch(raw_mode=True)
        for _, raw_key, raw_value in encoded:
            if raw_value is None:
                batch.delete(raw_key)
            else:
                batch.put(raw_key, raw_value)
        try:
            private_apis.partition_db(store, partition).write(batch)
        except BaseException:
            self._cache.clear()
            raise
        for (key, value), (_, raw_key, raw_value) in zip(changes, encoded):
            self._outbox.append((partition, raw_key, raw_value))
            if raw_value is not None:
                private_apis.note_key_partition(store, raw_key, partition)
            if value is DELETE:
                # Not remembered as None: deleted keys (every closed window) are not read again,
                # and kept they would fill the cache to CACHE_MAX between clears.
                self._cache.pop(key, None)
            else:
                self._remember(key, value)

    def publish(self) -> asyncio.Future | None:
        """Hand the staged changelog records to the producer, in order; returns a future done once
        the producer holds them (None when nothing was staged).

        Each partition's records go as one aiokafka record batch (``send_batch``; more only
        when they exceed the producer's batch size). aiokafka takes a partition's next batch
        only once the one before it is on its way, i.e. about one broker round trip later; so
        the sends run in a task per partition, chained after that partition's previous sends
        (the changelog keeps the order of the writes), and the caller goes on folding. The
        caller acknowledges the batch's source events when the future is done; the consumer's
        commit flushes the producer first. The persisted offset of each changelog partition
        is set when its last batch is acknowledged.
        """
        if not self._outbox:
            return None
        outbox, self._outbox = self._outbox, []
        topic = self.changelog_topic.get_topic_name()
        by_partition: dict[int, list[tuple[bytes, bytes | None]]] = {}
        for partition, key, value in outbox:
            by_partition.setdefault(partition, []).append((key, value))
        sends = []
        for partition, records in by_partition.items():
            send = asyncio.ensure_future(self._send_after(self._tails.get(partition), topic, partition, records))
            self._tails[partition] = send
            send.add_done_callback(self._forget_tail(partition))
            sends.append(send)
        return asyncio.gather(*sends)

    def _forget_tail(self, partition: int):
        def done(send: asyncio.Future) -> None:
            if self._tails.get(partition) is send:
                del self._tails[partition]
        return done

    async def _send_after(self, before: asyncio.Future | None, topic: str, partition: int,
                          records: list[tuple[bytes, bytes | None]]) -> None:
        try:
            if before is not None:
                await before  # raises if an earlier send failed: nothing after it may go either
            fut, last_index = await self._send_records(topic, partition, records)
            fut.add_done_callback(self._persisted(TP(topic, partition), last_index))
        except Exception as exc:
            await self._crash(exc)
            raise

    async def _send_records(self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]):
        """Send ``records`` to one partition in order; returns the last batch's future and the
        index of the last record within that batch (its offset is the batch's base offset + it)."""
        producer = private_apis.aiokafka_producer_of(self.app)
        batch, in_batch, fut = producer.create_batch(), 0, None
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                await producer.send_batch(batch, topic, partition=partition)
                batch, in_batch = producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=None)  # a first record always fits
            in_batch += 1
        fut = await producer.send_batch(batch, topic, partition=partition)
        return fut, in_batch - 1

    def _persisted(self, tp: TP, last_index: int):
        def done(fut) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                log.error("changelog record for %s not acknowledged: %r; the worker stops", tp, exc)
                self.app.loop.create_task(self._crash(exc))
                return
            self.data.set_persisted_offset(tp, fut.result().offset + last_index)
        return done

    async def _crash(self, exc: BaseException) -> None:
        # Local RocksDB now holds writes its changelog may never get: stop the worker (non-zero
        # exit, so its next start discards the local state) rather than go on diverging.
        await self.app.crash(exc)
