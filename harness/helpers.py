"""Test helpers that talk to the real broker and real worker processes."""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any


from factory_app.children import Child
from factory_app.kafka_clients import consumer_of, partitions_of, read_bounded
from factory_app.producer import new_producer
from factory_app.settings import Settings


def start_worker(settings: Settings, name: str = "worker") -> Child:
    return Child(name, ["worker"], settings.home / "logs", env=settings.to_env())


async def produce_raw(settings: Settings, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    """Append (key, value) pairs in order to logical ``topic``; waits for every ack."""
    producer = new_producer(settings, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(settings.topic(topic), value, key=key) for key, value in messages]
        for fut in futures:
            await fut
    finally:
        await producer.stop()


async def read_topic(settings: Settings, topic: str) -> dict[int, list[Any]]:
    """Every record of logical ``topic`` from offset 0 to its current end, per partition, in offset order."""
    async with consumer_of(settings.kafka) as consumer:
        tps = await partitions_of(consumer, settings.topic(topic))
        out: dict[int, list[Any]] = defaultdict(list)
        async for tp, records in read_bounded(consumer, dict(await consumer.end_offsets(tps))):
            out[tp.partition].extend(records)
        return dict(out)


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def table_dump(settings: Settings, table: str, timeout: float = 5.0) -> dict[str, Any]:
    return get_json(f"http://{settings.web.host}:{settings.web.port}/tables/{table}/", timeout=timeout)


def log_text(child: Child) -> str:
    return Path(child.log_path).read_text(errors="replace")


def worker_ready(settings: Settings) -> bool:
    try:
        return bool(get_json(f"http://{settings.web.host}:{settings.web.port}/ready/")["ready"])
    except Exception:
        return False


def wait_ready(settings: Settings, timeout: float = 120, child: Child | None = None) -> None:
    """Until the worker at ``settings`` answers ready; with ``child`` (that worker's process),
    fail at once, with the end of its log, when it exits instead."""
    from factory_app.children import wait_until

    def exited() -> str | None:
        if child is None or child.alive():
            return None
        return f"{child.name} exited with code {child.proc.returncode}:\n{child.last_lines()}"

    wait_until(lambda: worker_ready(settings), timeout, what="worker ready (recovered, not rebalancing)", abort=exited)


def caught_up(settings: Settings, topics: tuple[str, ...] = ("telemetry", "commands", "command-results")) -> bool:
    """True when the worker group has committed every record of the source ``topics`` (logical names)."""
    import asyncio

    from factory_app.kafka_clients import record_ends
    from factory_app.replay.groups import committed_offsets

    async def check() -> bool:
        ends = await record_ends(settings.kafka, [settings.topic(t) for t in topics])
        committed = await committed_offsets(settings, settings.worker.app_id)
        return all(committed.get(tp, 0) >= end for tp, end in ends.items())
    return asyncio.run(check())
