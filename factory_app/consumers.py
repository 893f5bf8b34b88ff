"""Plain aiokafka consumers for tools that read topics directly (ledger catch-up, replay, tests)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from factory_app.private_apis import force_metadata_update


async def start_consumer(*topics: str, **options) -> AIOKafkaConsumer:
    """A started consumer. The extra loop turn works around aiokafka 0.14 raising
    CancelledError from ``stop()`` when it follows ``start()`` before its
    internal reset task first ran."""
    consumer = AIOKafkaConsumer(*topics, **options)
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()  # release its connections: the caller never gets it to stop
        raise
    await asyncio.sleep(0)
    return consumer


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` (refreshing metadata for a topic the consumer has not seen)."""
    for _ in range(20):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        await force_metadata_update(consumer)
        await asyncio.sleep(0.1)
    return []
