"""Reading source topics from the beginning up to chosen offsets, partition by partition."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiokafka import TopicPartition

from factory_app.consumers import partitions_of, start_consumer
from factory_app.settings import Settings

Progress = Callable[[TopicPartition, int], None]  # (partition, records consumed so far in it)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


async def end_offsets(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    """Current end offset of every partition of ``topics`` (full names)."""
    consumer = await start_consumer(bootstrap_servers=settings.bootstrap.split(","), enable_auto_commit=False)
    try:
        tps = [tp for t in topics for tp in await partitions_of(consumer, t)]
        return dict(await consumer.end_offsets(tps)) if tps else {}
    finally:
        await consumer.stop()


async def read_until(settings: Settings, stops: dict[TopicPartition, int],
                     progress: Progress | None = None) -> AsyncIterator[Record]:
    """Every record from offset 0 up to (not including) ``stops[tp]``, in offset order per partition.

    Partitions are read one after another, so a fold sees each partition's
    events exactly in log order (the only order that exists in Kafka).
    """
    consumer = await start_consumer(bootstrap_servers=settings.bootstrap.split(","), enable_auto_commit=False,
                                    max_partition_fetch_bytes=4 * 1024 * 1024)
    try:
        for tp in sorted(stops, key=lambda t: (t.partition, t.topic)):
            stop = stops[tp]
            if stop <= 0:
                continue
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            done = 0
            while await consumer.position(tp) < stop:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
                for rec in batch.get(tp, ()):
                    if rec.offset >= stop:
                        break
                    done += 1
                    yield Record(rec.topic, rec.partition, rec.offset, rec.timestamp, rec.key, rec.value)
                if progress is not None:
                    progress(tp, done)
    finally:
        await consumer.stop()
