"""Whether MirrorMaker's tasks for a site run: its Connect status records on the central cluster.

Each flow's herder keeps its connectors' and tasks' states in ``mm2-status.SITE.internal`` on
the target (JSON values: ``{"state": "RUNNING", "worker_id": ..., "generation": ...}`` under
keys ``status-task-CONNECTOR-N``). A started MirrorMaker writes RUNNING for each task it starts,
so a RUNNING record of the mirror source task newer than the process's start says the flow
mirrors; until then MirrorMaker is still starting (scanning plugins, joining its group) and a
site that has not moved is not stalled.
"""

from __future__ import annotations

import json

from factory_app import kafka_clients

SOURCE_TASK_PREFIX = b"status-task-MirrorSourceConnector-"


def status_topic(site: str) -> str:
    return f"mm2-status.{site}.internal"


def task_state(key: bytes | None, value: bytes | None) -> tuple[str, str | None] | None:
    """``(task key, state)`` of a mirror source task's status record (state None: deleted);
    None for any other record. Pure."""
    if key is None or not key.startswith(SOURCE_TASK_PREFIX):
        return None
    if value is None:
        return key.decode(errors="replace"), None
    try:
        state = json.loads(value).get("state")
    except (ValueError, AttributeError):  # not Connect's JSON: not a state this reader knows
        return None
    return key.decode(errors="replace"), state if isinstance(state, str) else None


async def running_since(central: kafka_clients.Cluster, site: str, since: float) -> bool:
    """Whether the latest status of some mirror source task of ``site`` is RUNNING, written at
    or after ``since`` (epoch seconds; the records' timestamps are the mirror's clock)."""
    latest: dict[str, tuple[str | None, float]] = {}
    async with kafka_clients.consumer_of(central) as consumer:
        tps = await kafka_clients.partitions_of(consumer, status_topic(site))
        if not tps:
            return False
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for rec in records:
                    parsed = task_state(rec.key, rec.value)
                    if parsed is not None:
                        latest[parsed[0]] = (parsed[1], rec.timestamp / 1000)
    return any(state == "RUNNING" and at >= since for state, at in latest.values())
