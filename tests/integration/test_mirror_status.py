"""Reading MirrorMaker's offset syncs on a real broker: a reader that checks again and again
(the supervisor every few seconds, `mirror status --wait` every second) goes on from where it
stopped instead of reading the whole sync topic each time."""

from __future__ import annotations

import asyncio
import struct
import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import RecordsToDelete

from factory_app import kafka_clients
from factory_app.mirror.status import SyncCursor, last_syncs, offset_syncs_topic

pytestmark = pytest.mark.integration


def sync_record(topic: str, partition: int, upstream: int, downstream: int) -> tuple[bytes, bytes]:
    """An offset sync as MirrorMaker writes it (Kafka Struct encoding)."""
    name = topic.encode()
    return struct.pack(">h", len(name)) + name + struct.pack(">i", partition), struct.pack(">qq", upstream, downstream)


async def append(bootstrap: str, topic: str, syncs: list[tuple[str, int, int, int]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for sync in syncs:
            key, value = sync_record(*sync)
            await producer.send_and_wait(topic, value, key=key, partition=0)
    finally:
        await producer.stop()


async def scenario(bootstrap: str, decoded: list) -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"
    topic = offset_syncs_topic(site)
    await kafka_clients.ensure_topics(bootstrap, [kafka_clients.TopicSpec(topic, 1, 1)])
    await append(bootstrap, topic, [("p.telemetry", 0, 9, 9), ("p.telemetry", 1, 4, 4), ("p.telemetry", 0, 19, 21)])
    cursor = SyncCursor()
    first = await last_syncs(bootstrap, site, cursor)
    assert {k: v[0] for k, v in first.items()} == {("p.telemetry", 0): 20, ("p.telemetry", 1): 5}
    assert cursor.positions == {0: 3}

    # The records read are gone from the topic; a new sync arrives for partition 0 only.
    await kafka_clients.with_admin(bootstrap, lambda admin: admin.delete_records(
        {TopicPartition(topic, 0): RecordsToDelete(before_offset=3)}))
    await append(bootstrap, topic, [("p.telemetry", 0, 29, 33)])
    decoded.clear()
    again = await last_syncs(bootstrap, site, cursor)
    assert len(decoded) == 1
    # The cursor kept partition 1's sync and read only the one new record.
    assert {k: v[0] for k, v in again.items()} == {("p.telemetry", 0): 30, ("p.telemetry", 1): 5}
    assert cursor.positions == {0: 4}
    # A reader without a cursor reads what the topic still holds: only the newest record.
    assert {k: v[0] for k, v in (await last_syncs(bootstrap, site)).items()} == {("p.telemetry", 0): 30}
    # Nothing new: the same answer, nothing decoded, the cursor where it was.
    decoded.clear()
    assert await last_syncs(bootstrap, site, cursor) == again and cursor.positions == {0: 4}
    assert decoded == []


def test_a_sync_reader_goes_on_from_its_cursor(kafka, monkeypatch):
    from factory_app.mirror import status

    decoded: list = []
    real = status.decode_offset_sync

    def counting(key, value):  # the real decoder, counted: how many records a read went through
        decoded.append(key)
        return real(key, value)
    monkeypatch.setattr(status, "decode_offset_sync", counting)
    asyncio.run(scenario(kafka.cfg.bootstrap, decoded))
