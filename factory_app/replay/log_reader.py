"""Reading source topics from the beginning up to chosen offsets, partition by partition."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiokafka import TopicPartition

from factory_app import events, kafka_clients
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


def merged_into(settings: Settings) -> dict[str, str]:
    """Full topic name -> the full name of the topic its records are read with, by record time:
    operator actions with telemetry (a rule sees the mode as of its event)."""
    return {settings.topic(events.OPERATOR_ACTIONS): settings.topic(events.TELEMETRY)}


async def interleaved(main: AsyncIterator[Record], side: list[Record]) -> AsyncIterator[Record]:
    """``main`` in its order with ``side`` (in its order) put before the first main record
    stamped later than each: a stable merge by record timestamp (I/O-free)."""
    i = 0
    async for rec in main:
        while i < len(side) and side[i].timestamp_ms <= rec.timestamp_ms:
            yield side[i]
            i += 1
        yield rec
    for rec in side[i:]:
        yield rec


async def read_until(settings: Settings, stops: dict[TopicPartition, int],
                     progress: Progress | None = None,
                     starts: dict[TopicPartition, int] | None = None) -> AsyncIterator[Record]:
    """Every record from offset 0 (or ``starts[tp]``: a snapshot's point, a cut of the same
    merge) up to (not including) ``stops[tp]``, in offset order per partition.

    Partitions are read one after another, so a fold sees each partition's
    events exactly in log order (the only order that exists in Kafka). A topic read with
    another (``merged_into``: operator actions with telemetry) is read first, kept in memory
    (operators' actions are few), and its records come among the other's of the same
    partition by record timestamp, as they reached the live worker, give or take its fetches.
    """
    pairs = merged_into(settings)
    async with kafka_clients.consumer_of(settings.kafka, max_partition_fetch_bytes=4 * 1024 * 1024) as consumer:
        async def records_of(tp: TopicPartition):
            done = 0
            start = {tp: starts[tp]} if starts and starts.get(tp) else None
            async for _, records in kafka_clients.read_bounded(consumer, {tp: stops[tp]}, start, max_records=5000):
                for rec in records:
                    yield Record(rec.topic, rec.partition, rec.offset, rec.timestamp, rec.key, rec.value)
                done += len(records)
                if progress is not None:
                    progress(tp, done)

        held: dict[TopicPartition, list[Record]] = {}
        for tp in stops:
            with_tp = TopicPartition(pairs.get(tp.topic, ""), tp.partition)
            if with_tp in stops:
                held[with_tp] = [rec async for rec in records_of(tp)]
        for tp in sorted(stops, key=lambda t: (t.partition, t.topic)):
            if pairs.get(tp.topic, "") and TopicPartition(pairs[tp.topic], tp.partition) in stops:
                continue  # read with its partner
            async for rec in interleaved(records_of(tp), held.get(tp, [])):
                yield rec
