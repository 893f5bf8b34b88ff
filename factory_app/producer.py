"""Appending events to the log: one idempotent aiokafka producer, keyed by asset id."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from factory_app import events
from factory_app.kafka_clients import RECORD_MAX_BYTES, start_client
from factory_app.kafka_security import client_options
from factory_app.settings import Settings


def new_producer(settings: Settings, **overrides) -> AIOKafkaProducer:
    """A producer that never loses or duplicates an acknowledged append (acks=all, idempotent)."""
    opts = dict(bootstrap_servers=settings.kafka.hosts, acks="all", enable_idempotence=True,
                linger_ms=5, max_request_size=RECORD_MAX_BYTES, **client_options(settings.kafka))
    opts.update(overrides)
    return AIOKafkaProducer(**opts)


async def start_producer(settings: Settings, **overrides) -> AIOKafkaProducer:
    """A started ``new_producer`` (a refused identity or untrusted broker named in the error)."""
    producer = new_producer(settings, **overrides)
    await start_client(producer, settings.kafka, producer.stop)
    return producer


async def append(producer: AIOKafkaProducer, settings: Settings, topic: str, event: events.AnyEvent):
    """Append ``event`` to logical ``topic`` keyed by its asset; returns the send future."""
    return await producer.send(settings.topic(topic), events.encode(event), key=event.asset_id.encode())


async def append_once(settings: Settings, topic: str, event: events.AnyEvent) -> None:
    """Append one event and wait for its acknowledgement (a CLI's one-off write)."""
    producer = await start_producer(settings)
    try:
        await (await append(producer, settings, topic, event))
    finally:
        await producer.stop()
