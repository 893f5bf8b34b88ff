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
# A record's timestamp is the broker's append time, not what its producer says: the clock check
# (events.check_clock) refuses events ahead of it, and a producer that chose its own timestamps
# could pass events far in the future and fill a tag's window retention with them. Replays read
# the same timestamps from the log, so they decide as the live worker did.
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


def durability(settings: Settings) -> dict[str, str]:
    """With replicas, an acks=all append is acknowledged only once two of them hold it."""
    return {"min.insync.replicas": str(min(2, settings.kafka.replication))} if settings.kafka.replication > 1 else {}


def source_topic_specs(settings: Settings) -> list[TopicSpec]:
    """Specs of the project's source topics, all keyed by asset id and equally partitioned."""
    configs = {**FOREVER, **RECORD_LIMIT, **APPEND_TIME, **durability(settings)}
    return [
        TopicSpec(settings.topic(name), settings.kafka.partitions, settings.kafka.replication, dict(configs))
        for name in events.SOURCE_TOPICS
    ]


async def create_source_topics(settings: Settings) -> list[str]:
    """Create the source topics that are missing; return the names created."""
    return await ensure_topics(settings.kafka, source_topic_specs(settings))


def stamp_with_append_time(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Set ``message.timestamp.type=LogAppendTime`` on every existing source topic that has another
    (topics made before it was the rule); returns the names changed. Incremental: a topic's other
    configs stay as they are. An admin's operation (``factory topics``): it needs AlterConfigs."""
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    from factory_app.kafka_security import librdkafka_config

    admin = AdminClient(librdkafka_config(settings.kafka))
    names = [settings.topic(n) for n in events.SOURCE_TOPICS]
    described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in names],
                                       request_timeout=timeout)
    stale = [res.name for res, future in described.items()
             if future.result()["message.timestamp.type"].value != APPEND_TIME["message.timestamp.type"]]
    if stale:
        entry = ConfigEntry("message.timestamp.type", APPEND_TIME["message.timestamp.type"],
                            incremental_operation=AlterConfigOpType.SET)
        changes = [ConfigResource(ConfigResource.Type.TOPIC, n, incremental_configs=[entry]) for n in stale]
        for future in admin.incremental_alter_configs(changes, request_timeout=timeout).values():
            future.result()  # raises KafkaException naming the refusal (e.g. not an admin)
    return sorted(stale)


def changelog_topic_name(settings: Settings, table: str) -> str:
    """Faust's changelog topic of ``table`` in this deployment (``APP_ID-TABLE-changelog``)."""
    return f"{settings.worker.app_id}-{table}-changelog"


# Kafka compacts only closed segments, and by default one closes at 1 GB or after 7 days, so a
# restore reads every write since the topic began. FAST_COMPACTION (a segment a minute) kept a
# failover from growing per kill in bench.failover; it is opt-in (FACTORY_CHANGELOG_CONFIGS)
# until the chaos test has run with it under load (docs/fault-tolerance.md, "Failover").
CHANGELOG_COMPACTION = {"cleanup.policy": "compact"}
FAST_COMPACTION = {"segment.ms": "60000", "min.cleanable.dirty.ratio": "0.1"}


def changelog_topic_configs(settings: Settings) -> dict[str, str]:
    """Configs of every table changelog, whoever creates it: the worker's topic creation,
    Faust's table declaration (tables/definitions.py) and a rebuild replacing it."""
    return {**CHANGELOG_COMPACTION, **durability(settings), **settings.kafka.changelog_configs}


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
