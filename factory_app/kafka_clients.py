"""Every Kafka client the project opens outside Faust, in one place: admin calls, consumers, bounded reads.

Whoever needs the cluster's facts (brokers, topics, partitions, end offsets) or reads a
topic up to a known end calls these, so connection options, clean shutdown and the
"read until the end offsets" loop are written once.

Each takes the cluster as ``KafkaSettings`` (addresses and how to authenticate: TLS, SASL)
or, for the local broker tooling's plain listeners, a bootstrap string.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import NodeNotReadyError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from factory_app.kafka_security import client_options, explain
from factory_app.private_apis import force_metadata_update
from factory_app.settings import KafkaSettings, servers

log = logging.getLogger(__name__)
T = TypeVar("T")
Cluster = KafkaSettings | str

# The one size limit of a record in this project's topics (key, value and headers together, as
# the broker counts them): every source topic is created with max.message.bytes at this value,
# producers may send requests up to it, and consumers fetch at least this much per partition, so
# whatever a topic takes, every reader of it can fetch and dead-letter (see events.DeadLetter).
RECORD_MAX_BYTES = 1024 * 1024
FETCH_PARTITION_BYTES = 2 * RECORD_MAX_BYTES  # a record at the limit plus its batch framing, with room


def connection(cluster: Cluster) -> dict:
    """aiokafka's connection keyword arguments for ``cluster``."""
    if isinstance(cluster, str):
        return {"bootstrap_servers": servers(cluster)}
    return {"bootstrap_servers": cluster.hosts, **client_options(cluster)}


async def start_client(client, cluster: Cluster, stop) -> None:
    """Start ``client``; on failure release it and, for a secured cluster, say why in words
    (a wrong password or an untrusted certificate otherwise surfaces as a bare timeout)."""
    try:
        await client.start()
    except BaseException as exc:
        await stop()
        if isinstance(exc, Exception) and isinstance(cluster, KafkaSettings) and cluster.security_protocol != "PLAINTEXT":
            raise await explain(cluster, exc) from exc
        raise


# -- admin -------------------------------------------------------------------------------------

@asynccontextmanager
async def admin_client(cluster: Cluster, **options) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on the way out whatever happens."""
    admin = AIOKafkaAdminClient(**connection(cluster), **options)
    await start_client(admin, cluster, admin.close)
    try:
        yield admin
    finally:
        await admin.close()


async def with_admin(bootstrap: Cluster, use: Callable[[AIOKafkaAdminClient], Awaitable[T]], **options) -> T:
    async with admin_client(bootstrap, **options) as admin:
        return await use(admin)


@dataclass(frozen=True)
class TopicSpec:
    """A topic the project owns, with the configs it must have."""

    name: str
    partitions: int
    replication: int
    configs: dict[str, str] = field(default_factory=dict)


async def broker_ids_async(bootstrap: Cluster, timeout_ms: int = 3000) -> list[int]:
    """Ids of the brokers the cluster reports as alive."""
    async with admin_client(bootstrap, request_timeout_ms=timeout_ms) as admin:
        for _ in range(4):
            try:
                return sorted(b["node_id"] for b in (await admin.describe_cluster())["brokers"])
            except NodeNotReadyError:
                # The request went to a random known node, which may be the one that just died.
                await asyncio.sleep(0.2)
        return sorted(b["node_id"] for b in (await admin.describe_cluster())["brokers"])


def broker_ids(bootstrap: Cluster) -> list[int]:
    """Blocking form of ``broker_ids_async`` (for the CLI and the broker tooling)."""
    return asyncio.run(broker_ids_async(bootstrap))


async def ensure_topics(bootstrap: Cluster, specs: list[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Existing topics are left as they are (their partition count is never
    changed behind the user's back: that would move keys between partitions).
    """
    async with admin_client(bootstrap) as admin:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            try:
                await admin.create_topics([
                    NewTopic(name=s.name, num_partitions=s.partitions, replication_factor=s.replication,
                             topic_configs=s.configs) for s in missing
                ])
            except TopicAlreadyExistsError:
                pass  # another process won the race; same outcome
        for _ in range(50):  # metadata propagates asynchronously
            if {s.name for s in specs} <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.1)
        return [s.name for s in missing]


async def delete_topic(bootstrap: Cluster, topic: str, timeout: float = 60.0) -> None:
    """Delete ``topic`` and wait until the cluster no longer lists it."""
    async with admin_client(bootstrap) as admin:
        try:
            await admin.delete_topics([topic])
        except UnknownTopicOrPartitionError:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while topic in await admin.list_topics():
            if loop.time() > deadline:
                raise TimeoutError(f"topic {topic} still listed {timeout}s after deletion")
            await asyncio.sleep(0.2)


async def partition_replicas(bootstrap: Cluster, topic: str) -> dict[int, dict]:
    """Per partition of ``topic``: its leader node id, replicas and in-sync replicas."""
    async with admin_client(bootstrap) as admin:
        [desc] = await admin.describe_topics([topic])
        return {p["partition"]: {"leader": p["leader"], "replicas": list(p["replicas"]), "isr": list(p["isr"])}
                for p in desc["partitions"]}


# -- consumers ---------------------------------------------------------------------------------

async def start_consumer(*topics: str, bootstrap: Cluster, **options) -> AIOKafkaConsumer:
    """A started consumer (the caller stops it; a failed start releases its connections). The
    extra loop turn works around aiokafka 0.14 raising CancelledError from ``stop()`` when it
    follows ``start()`` before its internal reset task first ran."""
    # Only committed records: a transactional writer (MirrorMaker 2's exactly-once mode on a
    # central cluster) leaves aborted copies in the log that no fold may see.
    options.setdefault("isolation_level", "read_committed")
    options.setdefault("max_partition_fetch_bytes", FETCH_PARTITION_BYTES)
    consumer = AIOKafkaConsumer(*topics, **connection(bootstrap), **options)
    await start_client(consumer, bootstrap, consumer.stop)
    await asyncio.sleep(0)
    return consumer


@asynccontextmanager
async def consumer_of(bootstrap: Cluster, *topics: str, **options) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer without a group unless ``group_id`` is given, stopped on the way out."""
    options.setdefault("enable_auto_commit", False)
    consumer = await start_consumer(*topics, bootstrap=bootstrap, **options)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` (refreshing metadata for a topic the consumer has not seen)."""
    for _ in range(20):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        await force_metadata_update(consumer)
        await asyncio.sleep(0.1)
    return []


def asset_partition(asset_id: str, partitions: int) -> int:
    """The partition an asset's events land in (Kafka's default murmur2 partitioner on the key)."""
    from aiokafka.partitioner import DefaultPartitioner

    every = list(range(partitions))
    return DefaultPartitioner()(asset_id.encode(), every, every)


async def end_offsets(bootstrap: Cluster, topics: list[str]) -> dict[TopicPartition, int]:
    """Current end offset of every partition of ``topics`` (full names; a missing topic has none)."""
    async with consumer_of(bootstrap) as consumer:
        tps = [tp for t in topics for tp in await partitions_of(consumer, t)]
        return dict(await consumer.end_offsets(tps)) if tps else {}


async def log_bounds(bootstrap: Cluster, topics: list[str]) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(first retained offset, end offset) of every partition of ``topics``: the first is above 0
    once retention or a DeleteRecords removed the log's beginning."""
    async with consumer_of(bootstrap) as consumer:
        tps = [tp for t in topics for tp in await partitions_of(consumer, t)]
        if not tps:
            return {}, {}
        return dict(await consumer.beginning_offsets(tps)), dict(await consumer.end_offsets(tps))


async def record_ends(bootstrap: Cluster, topics: list[str]) -> dict[TopicPartition, int]:
    """Per partition of ``topics``: the offset after its last committed record, i.e. what a
    group that consumed everything has committed. It is the end offset on a site's topics;
    on a transactionally written one (a mirror in exactly-once mode) the end offset also
    counts the commit markers after the last record, which no consumer ever commits past."""
    async with consumer_of(bootstrap) as consumer:
        tps = [tp for t in topics for tp in await partitions_of(consumer, t)]
        if not tps:
            return {}
        ends = dict(await consumer.end_offsets(tps))
        firsts = dict(await consumer.beginning_offsets(tps))
        out = {}
        for tp in tps:
            out[tp] = await _after_last_record(consumer, tp, firsts[tp], ends[tp])
        return out


async def _after_last_record(consumer: AIOKafkaConsumer, tp: TopicPartition, first: int, end: int) -> int:
    window = 8  # a transaction ends with one marker per partition: the last record is near the end
    while True:
        start = max(first, end - window)
        last = None
        async for _, records in read_bounded(consumer, {tp: end}, {tp: start}):
            last = records[-1].offset
        if last is not None:
            return last + 1
        if start == first:
            return first  # no committed record at all
        window *= 8


async def read_bounded(consumer: AIOKafkaConsumer, stops: dict[TopicPartition, int],
                       starts: dict[TopicPartition, int] | None = None, max_records: int | None = None,
                       ) -> AsyncIterator[tuple[TopicPartition, list[ConsumerRecord]]]:
    """The records of each partition from ``starts[tp]`` (default: its beginning) up to, not
    including, ``stops[tp]``.

    Yields ``(partition, records)`` batches in offset order per partition; returns once every
    partition reached its stop. The one loop that reads "up to the end offsets taken before".
    """
    starts = starts or {}
    pending = {tp for tp, stop in stops.items() if stop > starts.get(tp, 0)}
    if not pending:
        return
    consumer.assign(sorted(pending, key=lambda t: (t.topic, t.partition)))
    for tp in pending:
        if tp in starts:
            consumer.seek(tp, starts[tp])
        else:
            await consumer.seek_to_beginning(tp)  # not offset 0: the log may start later
    while True:
        for tp in list(pending):
            if await consumer.position(tp) >= stops[tp]:
                pending.discard(tp)
        if not pending:
            return
        batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=max_records)
        for tp, records in batch.items():
            kept = [r for r in records if r.offset < stops[tp]]
            if kept:
                yield tp, kept
