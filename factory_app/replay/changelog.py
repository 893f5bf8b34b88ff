"""A table's changelog topic: read it into a dict, or replace it with a rebuilt table."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from factory_app.kafka_clients import TopicSpec, delete_topic, ensure_topics
from factory_app.producer import new_producer
from factory_app.replay.log_reader import end_offsets, read_until
from factory_app.settings import Settings
from factory_app.topics import changelog_topic_configs, changelog_topic_name


async def read_changelog(settings: Settings, table: str) -> dict[str, Any]:
    """The table as its changelog says: the last value per key, tombstones deleting it."""
    topic = changelog_topic_name(settings, table)
    stops = await end_offsets(settings, [topic])
    out: dict[str, Any] = {}
    async for rec in read_until(settings, stops):
        key = json.loads(rec.key)
        if rec.value is None:
            out.pop(key, None)
        else:
            value = json.loads(rec.value)
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
    return out


async def replace_changelog(settings: Settings, table: str, by_partition: dict[int, dict[str, Any]]) -> int:
    """Delete the changelog of ``table`` and write the rebuilt content, each key to its partition."""
    topic = changelog_topic_name(settings, table)
    await delete_topic(settings.kafka, topic)
    for attempt in range(50):  # the broker may still be finishing the deletion
        try:
            await ensure_topics(settings.kafka, [TopicSpec(topic, settings.kafka.partitions, settings.kafka.replication,
                                                               changelog_topic_configs(settings))])
            break
        except Exception:
            await asyncio.sleep(0.2)
    producer = new_producer(settings, linger_ms=20)
    await producer.start()
    written = 0
    try:
        for partition, content in sorted(by_partition.items()):
            for key in sorted(content):
                await producer.send(topic, json.dumps(content[key]).encode(), key=json.dumps(key).encode(),
                                    partition=partition)
                written += 1
        await producer.flush()
    finally:
        await producer.stop()
    return written


def delete_local_state(settings: Settings, table: str) -> list[Path]:
    """Remove this host's RocksDB files of ``table`` so the next worker restores from the changelog."""
    import shutil

    removed = []
    for path in (settings.data_dir / "v1" / "tables").glob(f"{table}-*.db"):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
