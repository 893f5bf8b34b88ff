"""Consumer group facts: who is a member right now, and which offsets it has committed."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from factory_app.consumers import start_consumer
from factory_app.settings import Settings


async def active_members(settings: Settings, group: str) -> list[str]:
    """``client_id@host`` of every current member of ``group`` (empty when nobody consumes)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap.split(","))
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    members = []
    for resp in responses:
        for g in resp.to_object()["groups"]:
            for m in g["members"]:
                members.append(f"{m['client_id']}@{m['client_host'].lstrip('/')} ({m['member_id']})")
    return members


async def committed_offsets(settings: Settings, group: str) -> dict[TopicPartition, int]:
    """The group's committed offset per partition (partitions without a commit are absent)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap.split(","))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def commit_offsets(settings: Settings, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit ``offsets`` for ``group`` from outside it (the group must have no members)."""
    consumer = await start_consumer(bootstrap_servers=settings.bootstrap.split(","), group_id=group,
                                    enable_auto_commit=False)
    try:
        consumer.assign(list(offsets))
        await consumer.commit(dict(offsets))
    finally:
        await consumer.stop()


class GroupActive(RuntimeError):
    """The group has live members; changing its offsets or tables now would race them."""

    def __init__(self, group: str, members: list[str]):
        super().__init__(f"consumer group {group!r} has {len(members)} active member(s): {', '.join(members)}; "
                         f"stop them first")
        self.members = members


async def require_idle(settings: Settings, group: str) -> None:
    members = await active_members(settings, group)
    if members:
        raise GroupActive(group, members)
