"""Consumer group facts: who is a member right now, and which offsets it has committed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CoordinatorLoadInProgressError, CoordinatorNotAvailableError

from factory_app.kafka_clients import consumer_of, with_admin
from factory_app.settings import Settings


T = TypeVar("T")
# A broker that has just started (or moved a group) answers these for a few seconds.
_TRANSIENT = (CoordinatorNotAvailableError, CoordinatorLoadInProgressError)


async def _once_coordinated(call: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    """``call()``, retried while the group's coordinator is not yet available (up to ``timeout`` s)."""
    deadline, pause = time.monotonic() + timeout, 0.2
    while True:
        try:
            return await call()
        except _TRANSIENT:
            if time.monotonic() + pause > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


async def _admin_call(settings: Settings, use: Callable[[AIOKafkaAdminClient], Awaitable[T]]) -> T:
    return await _once_coordinated(lambda: with_admin(settings.kafka, use))


async def active_members(settings: Settings, group: str) -> list[str]:
    """``client_id@host`` of every current member of ``group`` (empty when nobody consumes)."""
    responses = await _admin_call(settings, lambda admin: admin.describe_consumer_groups([group]))
    members = []
    for resp in responses:
        for g in resp.to_object()["groups"]:
            for m in g["members"]:
                members.append(f"{m['client_id']}@{m['client_host'].lstrip('/')} ({m['member_id']})")
    return members


async def committed_offsets(settings: Settings, group: str) -> dict[TopicPartition, int]:
    """The group's committed offset per partition (partitions without a commit are absent)."""
    offsets = await _admin_call(settings, lambda admin: admin.list_consumer_group_offsets(group))
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def commit_offsets(settings: Settings, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit ``offsets`` for ``group`` from outside it (the group must have no members)."""
    async def once() -> None:
        async with consumer_of(settings.kafka, group_id=group) as consumer:
            consumer.assign(list(offsets))
            await consumer.commit(dict(offsets))
    await _once_coordinated(once)


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
