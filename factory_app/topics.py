"""The topic layout: which topics exist, how many partitions, which configs."""

from __future__ import annotations

from factory_app import events
from factory_app.kafka_clients import RECORD_MAX_BYTES, TopicSpec, ensure_topics
from factory_app.settings import Settings

# Source topics are the authority: never deleted by time or size.
FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
# Set on the topic, not left to the broker's default, so clients and topics agree on one limit
# (kafka_clients.RECORD_MAX_BYTES) on every cluster, central copies included.
RECORD_LIMIT = {"max.message.bytes": str(RECORD_MAX_BYTES)}


def durability(settings: Settings) -> dict[str, str]:
    """With replicas, an acks=all append is acknowledged only once two of them hold it."""
    return {"min.insync.replicas": str(min(2, settings.kafka.replication))} if settings.kafka.replication > 1 else {}


def source_topic_specs(settings: Settings) -> list[TopicSpec]:
    """Specs of the project's source topics, all keyed by asset id and equally partitioned."""
    configs = {**FOREVER, **RECORD_LIMIT, **durability(settings)}
    return [
        TopicSpec(settings.topic(name), settings.kafka.partitions, settings.kafka.replication, dict(configs))
        for name in events.SOURCE_TOPICS
    ]


async def create_source_topics(settings: Settings) -> list[str]:
    """Create the source topics that are missing; return the names created."""
    return await ensure_topics(settings.kafka, source_topic_specs(settings))


def changelog_topic_name(settings: Settings, table: str) -> str:
    """Faust's changelog topic of ``table`` in this deployment (``APP_ID-TABLE-changelog``)."""
    return f"{settings.worker.app_id}-{table}-changelog"


def changelog_topic_configs(settings: Settings) -> dict[str, str]:
    """Configs of every table changelog, whoever creates it: the worker's topic creation,
    Faust's table declaration (tables/definitions.py) and a rebuild replacing it."""
    return {"cleanup.policy": "compact", **durability(settings), **settings.kafka.changelog_configs}


def changelog_specs(settings: Settings, tables) -> list[TopicSpec]:
    """Specs of the tables' changelog topics: compacted, partitioned like the source topics.

    Created before the worker starts: Faust declares them itself, but on a new
    cluster its first write can race the topic's metadata and crash the agent
    with PartitionsMismatch ("changelog has 0 partitions").
    """
    return [
        TopicSpec(t.changelog_topic.get_topic_name(), settings.kafka.partitions, settings.kafka.replication,
                  changelog_topic_configs(settings))
        for t in tables
    ]
