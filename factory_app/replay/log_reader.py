"""Reading source topics from the beginning up to chosen offsets, partition by partition."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiokafka import TopicPartition

from factory_app import kafka_clients
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
    return await kafka_clients.end_offsets(settings.kafka, topics)


async def read_until(settings: Settings, stops: dict[TopicPartition, int],
                     progress: Progress | None = None) -> AsyncIterator[Record]:
    """Every record from offset 0 up to (not including) ``stops[tp]``, in offset order per partition.

    Partitions are read one after another, so a fold sees each partition's
    events exactly in log order (the only order that exists in Kafka).
    """
    async with kafka_clients.consumer_of(settings.kafka, max_partition_fetch_bytes=4 * 1024 * 1024) as consumer:
        for tp in sorted(stops, key=lambda t: (t.partition, t.topic)):
            done = 0
            async for _, records in kafka_clients.read_bounded(consumer, {tp: stops[tp]}, max_records=5000):
                for rec in records:
                    yield Record(rec.topic, rec.partition, rec.offset, rec.timestamp, rec.key, rec.value)
                done += len(records)
                if progress is not None:
                    progress(tp, done)
