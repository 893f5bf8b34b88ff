"""Worker liveness: a dead worker's partitions move in about a second, not after the session timeout.

Kafka moves a member's partitions when its session times out. A timeout short enough for
control would also evict a worker whose event loop is busy for a moment (a RocksDB open, a
CPU hog), and every eviction pauses the whole group for a rebalance (measured: storms of them
with 1 s sessions while a worker restarts). So the session timeout stays the backstop for a
wedged worker, and death is told from busyness by a signal of the worker's own: a thread,
off the event loop, appends a beat (worker id, group, current member id) to the liveness topic
every ``liveness_interval`` seconds. Every worker follows that topic; a peer not heard from for
``liveness_timeout`` seconds (on the follower's own clock: no clock is compared across hosts,
except for the beats already there when it starts, dated by their record time) is taken for dead, and each survivor that sees it sends LeaveGroup for the peer's member id,
which starts the rebalance at once (a second LeaveGroup finds the member gone: harmless). A
peer wrongly taken for dead rejoins at its next heartbeat: one rebalance, nothing lost, and the
command writer's fencing keeps a stale owner's commands out (docs/safety.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from factory_app import kafka_clients
from factory_app.kafka_clients import TopicSpec
from factory_app.producer import new_producer
from factory_app.settings import Settings

log = logging.getLogger(__name__)


def liveness_topic(settings: Settings) -> str:
    return f"{settings.worker.app_id}-worker-liveness"  # under the group's own prefix (its ACL)


def liveness_spec(settings: Settings) -> TopicSpec:
    """One partition (every worker reads every beat), kept briefly: a beat is news for a second."""
    return TopicSpec(liveness_topic(settings), 1, settings.kafka.replication,
                     {"retention.ms": "60000", "segment.ms": "60000"})


@dataclass
class Peer:
    member: str  # its group member id at its last beat ("" before it joined)
    heard: float  # when its last beat arrived, on this process's monotonic clock
    leaving: bool = False  # it said it stops in order (it leaves the group itself)


def beat(worker: str, group: str, member: str | None, leaving: bool = False) -> bytes:
    return json.dumps({"worker": worker, "group": group, "member": member or "", "leaving": leaving}).encode()


def heard(peers: dict[str, Peer], raw: bytes, group: str, me: str, now: float) -> None:
    """Take one beat into ``peers`` (a beat of another group, or one that is not JSON, is ignored)."""
    try:
        b = json.loads(raw)
        worker, member, leaving = str(b["worker"]), str(b["member"]), bool(b.get("leaving", False))
        if b["group"] != group:
            return
    except (ValueError, KeyError, TypeError):
        return
    if worker != me:
        peers[worker] = Peer(member, now, leaving)


def forget(peers: dict[str, Peer], evicted: set[str], now: float, keep: float) -> None:
    """Drop peers not heard from for ``keep`` seconds (restarted workers come back under new ids,
    so the map would grow with every restart), and the evictions of members no longer known."""
    for w in [w for w, p in peers.items() if now - p.heard > keep]:
        del peers[w]
    evicted.intersection_update(p.member for p in peers.values())


def dead(peers: dict[str, Peer], now: float, timeout: float, evicted: set[str]) -> list[tuple[str, str]]:
    """(worker, member id) of the peers silent for ``timeout`` that are members and have not
    been evicted already; a peer that said it is leaving is not dead. Pure."""
    return [(w, p.member) for w, p in sorted(peers.items())
            if now - p.heard >= timeout and p.member and not p.leaving and p.member not in evicted]


class Liveness:
    """The beacon and the watchdog of one worker, on a thread of their own."""

    def __init__(self, settings: Settings, worker: str, member_id: Callable[[], str | None]):
        self.settings = settings
        self.worker = worker
        self.member_id = member_id
        self.group = settings.worker.app_id
        self.interval = settings.worker.liveness_interval
        self.timeout = settings.worker.liveness_timeout
        self.peers: dict[str, Peer] = {}
        self.evicted: set[str] = set()
        self.evictions = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="liveness", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def view(self) -> dict:
        """This worker, its peers (member id, seconds since heard, leaving) and its evictions."""
        now = time.monotonic()
        return {"worker": self.worker, "member": self.member_id() or "", "evictions": self.evictions,
                "timeout_s": self.timeout, "running": self._thread.is_alive(),
                "peers": {w: {"member": p.member, "silent_s": round(now - p.heard, 3), "leaving": p.leaving}
                          for w, p in sorted(list(self.peers.items()))}}

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                asyncio.run(self._main())
            except Exception:  # noqa: BLE001 (an accelerator: meanwhile the session timeout still holds)
                log.exception("worker liveness failed; starting it again in 1 s (dead peers are noticed "
                              "only at the session timeout meanwhile)")
                self._stop.wait(1.0)

    async def _main(self) -> None:
        from aiokafka import TopicPartition

        topic = liveness_topic(self.settings)
        await kafka_clients.ensure_topics(self.settings.kafka, [liveness_spec(self.settings)])
        producer = new_producer(self.settings, linger_ms=0, enable_idempotence=False, acks=1)
        await kafka_clients.start_client(producer, self.settings.kafka, producer.stop)
        try:
            async with kafka_clients.consumer_of(self.settings.kafka, fetch_max_wait_ms=50) as consumer:
                tp = TopicPartition(topic, 0)
                consumer.assign([tp])
                # From the start of what is kept (a minute or two of beats): a peer that died while
                # this worker started is noticed too. Those beats are dated by their record time.
                backlog = (await consumer.end_offsets([tp]))[tp]
                await consumer.seek_to_beginning(tp)
                next_beat = 0.0
                while not self._stop.is_set():
                    now = time.monotonic()
                    if now >= next_beat:
                        await producer.send(topic, beat(self.worker, self.group, self.member_id()),
                                            key=self.worker.encode())
                        next_beat = now + self.interval
                    batch = await consumer.getmany(tp, timeout_ms=int(self.interval * 500))
                    for rec in batch.get(tp, []):
                        now = time.monotonic()
                        at = now if rec.offset >= backlog else now - max(0.0, time.time() - rec.timestamp / 1000)
                        heard(self.peers, rec.value, self.group, self.worker, at)
                    for worker, member in dead(self.peers, time.monotonic(), self.timeout, self.evicted):
                        await self._evict(producer.client, worker, member)
                    forget(self.peers, self.evicted, time.monotonic(), keep=max(60.0, 10 * self.timeout))
                await producer.send_and_wait(topic, beat(self.worker, self.group, self.member_id(), leaving=True),
                                             key=self.worker.encode())
        finally:
            await producer.stop()

    async def _evict(self, client, worker: str, member: str) -> None:
        from aiokafka.protocol.group import LeaveGroupRequest

        from factory_app.private_apis import group_coordinator_of

        self.evicted.add(member)
        try:
            node = await group_coordinator_of(client, self.group)
            resp = await client.send(node, LeaveGroupRequest(self.group, member))
        except Exception as exc:  # noqa: BLE001 (the session timeout remains)
            log.warning("could not evict silent worker %s (member %s): %s", worker, member, exc)
            return
        if resp.error_code:  # most often 25, UNKNOWN_MEMBER_ID: it left, or a peer evicted it first
            log.info("worker %s silent: its member %s is no longer in group %s (error code %s)",
                     worker, member, self.group, resp.error_code)
            return
        self.evictions += 1
        log.warning("worker %s silent for %.1f s: evicted its member %s from group %s",
                    worker, self.timeout, member, self.group)
