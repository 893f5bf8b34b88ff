"""Every private attribute of a library the project uses, in one place, each with why.

No public API does these jobs. A library upgrade that renames or removes one fails
``tests/unit/test_private_apis.py``, which drives each through the installed version;
``pyproject.toml`` pins the versions the suite was run with.

The batch-delivering consumer (``factory_app/partition_batches.py``) subclasses Faust's
aiokafka consumer and works on its acknowledgement state; the names it relies on are
listed in ``FAUST_CONSUMER_STATE`` and checked the same way.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event

# State of faust.transport.drivers.aiokafka.Consumer that partition_batches reads and updates
# the way Faust's own per-message acknowledgement does.
FAUST_CONSUMER_STATE = ("_acked", "_acked_index", "_n_acked", "_read_offset", "_committed_offset",
                        "_unacked_messages", "_waiting_for_ack", "_commit_every")
# Methods of Faust's aiokafka consumer (thread) that partition_batches overrides, or calls as
# Faust's own fetch loop does (a record into a Message; offsets the log skipped into a gap).
FAUST_CONSUMER_HOOKS = (("Consumer", "_drain_messages"), ("Consumer", "_new_consumer_thread"),
                        ("AIOKafkaConsumerThread", "_create_worker_consumer"), ("Consumer", "_to_message"),
                        ("Consumer", "_add_gap"))


@contextmanager
def faust_current_event(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event: tables key their reads and writes by its partition.

    Faust sets it only while its own Stream iterates; the runtime folds outside a Stream.
    Faust keeps a weak reference: the caller holds ``event`` for the duration."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def aiokafka_producer_of(app: Any) -> Any:
    """The started aiokafka producer inside Faust's producer: sends without Faust's buffer and
    gives access to ``create_batch`` / ``send_batch`` (one record batch per changelog partition)."""
    return app.producer._ensure_producer()  # noqa: SLF001


def committed_offset(faust_consumer: Any, tp: Any) -> int | None:
    """The offset Faust last committed for ``tp`` (Faust keeps no public getter)."""
    return faust_consumer._committed_offset.get(tp)  # noqa: SLF001


def set_fetch_max_wait(aiokafka_consumer: Any, ms: int) -> None:
    """The broker's long-poll time of a not yet started aiokafka consumer (Faust passes a fixed 1,500 ms)."""
    aiokafka_consumer._fetch_max_wait_ms = ms  # noqa: SLF001 (read when the fetcher starts)


def set_read_committed(aiokafka_consumer: Any) -> None:
    """Read only committed records with a not yet started aiokafka consumer (Faust reads
    uncommitted ones unless its own transactions are on)."""
    aiokafka_consumer._isolation_level = "read_committed"  # noqa: SLF001 (read when the fetcher starts)


async def force_metadata_update(aiokafka_consumer: Any) -> None:
    """Refresh cluster metadata now (a topic the consumer has not subscribed to)."""
    await aiokafka_consumer._client.force_metadata_update()  # noqa: SLF001


def raw_get(store: Any, key: Any) -> Any:
    """Look ``key`` up in a Faust RocksDB store across its partitions, decoded; None when absent."""
    raw = store._get(store._encode_key(key))  # noqa: SLF001
    return None if raw is None else store._decode_value(raw)  # noqa: SLF001


def encode_key(store: Any, key: Any) -> bytes:
    return store._encode_key(key)  # noqa: SLF001 (the table's key serializer, as Faust writes it)


def encode_value(store: Any, value: Any) -> bytes:
    return store._encode_value(value)  # noqa: SLF001


def partition_db(store: Any, partition: int) -> Any:
    """The rocksdict database of one table partition (one write batch per fold)."""
    return store._db_for_partition(partition)  # noqa: SLF001


def note_key_partition(store: Any, raw_key: bytes, partition: int) -> None:
    """Tell the store which partition holds ``raw_key`` (Faust's lookup shortcut, as its own set does)."""
    store._key_index[raw_key] = partition  # noqa: SLF001


def disable_stale_subscription_check(client: Any) -> None:
    """asyncua recreates a subscription after 1 s without a publish; a quiet one sends none."""
    client._stale_check_margin = math.inf  # noqa: SLF001


def group_member_id(app: Any) -> str | None:
    """The worker's current member id in its consumer group (what LeaveGroup names), or None
    before its consumer runs. Faust keeps its aiokafka consumer, and that its coordinator, private."""
    thread = getattr(app.consumer, "_thread", None)  # noqa: SLF001
    consumer = getattr(thread, "_consumer", None)  # noqa: SLF001
    coordinator = getattr(consumer, "_coordinator", None)  # noqa: SLF001
    return None if coordinator is None else coordinator.member_id


async def group_coordinator_of(client: Any, group: str) -> int:
    """The node id of ``group``'s coordinator, looked up with aiokafka's own client (public, unlisted in its docs)."""
    from aiokafka.client import CoordinationType

    return await client.coordinator_lookup(CoordinationType.GROUP, group)
