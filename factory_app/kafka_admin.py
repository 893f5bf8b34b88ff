"""Small admin helpers over aiokafka: cluster liveness and topic creation."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import NodeNotReadyError, TopicAlreadyExistsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """A topic the project owns, with the configs it must have."""

    name: str
    partitions: int
    replication: int
    configs: dict[str, str] = field(default_factory=dict)


def _servers(bootstrap: str) -> list[str]:
    return [s.strip() for s in bootstrap.split(",") if s.strip()]


async def broker_ids_async(bootstrap: str, timeout_ms: int = 3000) -> list[int]:
    """Ids of the brokers the cluster reports as alive."""
    admin = AIOKafkaAdminClient(bootstrap_servers=_servers(bootstrap), request_timeout_ms=timeout_ms)
    await admin.start()
    try:
        for attempt in range(5):
            try:
                info = await admin.describe_cluster()
                return sorted(b["node_id"] for b in info["brokers"])
            except NodeNotReadyError:
                # The request went to a random known node, which may be the one that just died.
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


def broker_ids(bootstrap: str) -> list[int]:
    """Blocking form of ``broker_ids_async`` (for the CLI and the broker tooling)."""
    return asyncio.run(broker_ids_async(bootstrap))


async def ensure_topics(bootstrap: str, specs: list[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Existing topics are left as they are (their partition count is never
    changed behind the user's back: that would move keys between partitions).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=_servers(bootstrap))
    await admin.start()
    try:
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
    finally:
        await admin.close()


async def partition_replicas(bootstrap: str, topic: str) -> dict[int, dict]:
    """Per partition of ``topic``: its leader node id, replicas and in-sync replicas."""
    admin = AIOKafkaAdminClient(bootstrap_servers=_servers(bootstrap))
    await admin.start()
    try:
        [desc] = await admin.describe_topics([topic])
        return {p["partition"]: {"leader": p["leader"], "replicas": list(p["replicas"]), "isr": list(p["isr"])}
                for p in desc["partitions"]}
    finally:
        await admin.close()
