"""Reading one asset's partition of the log for the plant view: its recent state transitions
(connection, machine, mode), and one event found by id (a command's cause, its result)."""

from __future__ import annotations

import msgspec
from aiokafka import TopicPartition

from factory_app import events
from factory_app.kafka_clients import asset_partition, consumer_of, read_bounded
from factory_app.settings import Settings


async def recent_transitions(settings: Settings, asset_id: str, n: int = 20, scan: int = 20_000) -> list[dict]:
    """The newest ``n`` StateTransitions of ``asset_id`` among the last ``scan`` records of its
    partition (bounded: the page asks on every open, whatever the log's length)."""
    topic = settings.topic(events.TELEMETRY)
    tp = TopicPartition(topic, asset_partition(asset_id, settings.kafka.partitions))
    async with consumer_of(settings.kafka) as consumer:
        end = (await consumer.end_offsets([tp]))[tp]
        begin = (await consumer.beginning_offsets([tp]))[tp]
        found = []
        async for _, records in read_bounded(consumer, {tp: end}, {tp: max(begin, end - scan)}, max_records=5000):
            for rec in records:
                try:
                    ev = events.decode_keyed(rec.key, rec.value, (events.StateTransition,))
                except events.DecodeFailure:
                    continue  # telemetry, or bad input (dead-lettered by the workers)
                if ev.asset_id == asset_id:
                    found.append({"event_time": ev.event_time, "kind": ev.kind, "from_state": ev.from_state,
                                  "to_state": ev.to_state, "reason": ev.reason, "offset": rec.offset})
    return found[-n:][::-1]


async def find_event(settings: Settings, topic: str, asset_id: str, event_id: str, near: float,
                     scan: int = 50_000) -> dict | None:
    """The event ``event_id`` of ``asset_id`` on logical ``topic``, looked for from a little before
    ``near`` (its event time; the record's log time is close) over at most ``scan`` records."""
    tp = TopicPartition(settings.topic(topic), asset_partition(asset_id, settings.kafka.partitions))
    async with consumer_of(settings.kafka) as consumer:
        end = (await consumer.end_offsets([tp]))[tp]
        found = (await consumer.offsets_for_times({tp: max(0, int((near - 60) * 1000))}))[tp]
        start = found.offset if found is not None else max(0, end - scan)
        async for _, records in read_bounded(consumer, {tp: min(end, start + scan)}, {tp: start}, max_records=5000):
            for rec in records:
                try:
                    ev = events.decode_keyed(rec.key, rec.value, None)
                except events.DecodeFailure:
                    continue
                if ev.event_id == event_id:
                    return {"topic": tp.topic, "partition": tp.partition, "offset": rec.offset,
                            "event": msgspec.to_builtins(ev)}
    return None
