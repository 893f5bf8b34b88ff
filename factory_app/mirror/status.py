"""How far each site is mirrored: MirrorMaker's offset syncs on the central cluster against
each site's end offsets.

MirrorMaker records, per mirrored partition, which site offset it has written centrally and
where (``mm2-offset-syncs.SITE.internal`` on the target: ``offset-syncs.topic.location =
target``). It writes one when the mapping drifts and whenever it commits (every
``commit_interval_ms``), so the last sync of a partition is at most one commit behind.
Central end offsets cannot be compared with the site's directly: transaction markers and
re-sent records take offsets of their own.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from factory_app import kafka_clients
from factory_app.mirror.mm2_config import mirrored_topic
from factory_app.mirror.sites import Site, SitesConfig


def offset_syncs_topic(site: str) -> str:
    return f"mm2-offset-syncs.{site}.internal"


def decode_offset_sync(key: bytes, value: bytes) -> tuple[str, int, int, int]:
    """(site topic, partition, site offset, central offset) of one offset-sync record (Kafka's
    Struct encoding: a string is an int16 length and UTF-8 bytes, numbers big-endian)."""
    (n,) = struct.unpack_from(">h", key, 0)
    topic = key[2:2 + n].decode()
    (partition,) = struct.unpack_from(">i", key, 2 + n)
    upstream, downstream = struct.unpack_from(">qq", value, 0)
    return topic, partition, upstream, downstream


@dataclass
class PartitionStatus:
    topic: str
    partition: int
    site_end: int | None  # None: the site did not answer
    mirrored: int  # site offsets below this are on the central cluster (per the last sync)
    synced_at: float | None  # epoch seconds of that sync

    @property
    def lag(self) -> int | None:
        return None if self.site_end is None else max(0, self.site_end - self.mirrored)


@dataclass
class SiteStatus:
    site: str
    reachable: bool
    partitions: list[PartitionStatus] = field(default_factory=list)

    @property
    def lag(self) -> int | None:
        lags = [p.lag for p in self.partitions]
        return None if not self.reachable or any(lag is None for lag in lags) else sum(lags)

    @property
    def last_sync(self) -> float | None:
        times = [p.synced_at for p in self.partitions if p.synced_at is not None]
        return max(times) if times else None

    def as_dict(self) -> dict:
        return {"site": self.site, "reachable": self.reachable, "lag": self.lag, "last_sync": self.last_sync,
                "mirrored": sum(p.mirrored for p in self.partitions),
                "site_end": None if not self.reachable else sum(p.site_end or 0 for p in self.partitions),
                "topics": {t: {"mirrored": sum(p.mirrored for p in self.partitions if p.topic == t),
                               "lag": None if not self.reachable else
                               sum(p.lag or 0 for p in self.partitions if p.topic == t)}
                           for t in sorted({p.topic for p in self.partitions})}}


@dataclass
class SyncCursor:
    """Where a reader of one site's offset syncs stopped, and the last sync per site partition
    it read: the next read goes on from there. The topic is compacted, but its active segment
    keeps every sync (one per partition per commit) for as long as the mirror runs, so reading
    it from offset 0 at every check would cost more the longer the run."""
    positions: dict[int, int] = field(default_factory=dict)  # sync-topic partition -> next offset to read
    syncs: dict[tuple[str, int], tuple[int, float]] = field(default_factory=dict)


async def last_syncs(central: kafka_clients.Cluster, site: str,
                     cursor: SyncCursor | None = None) -> dict[tuple[str, int], tuple[int, float]]:
    """(site topic, partition) -> (next site offset mirrored, sync time) from the central cluster.
    With ``cursor``, reads on from where it stopped and moves it (only when the read completes)."""
    cursor = cursor or SyncCursor()
    async with kafka_clients.consumer_of(central) as consumer:
        tps = await kafka_clients.partitions_of(consumer, offset_syncs_topic(site))
        if not tps:
            cursor.positions, cursor.syncs = {}, {}
            return {}
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        positions, out = dict(cursor.positions), dict(cursor.syncs)
        if any(positions.get(tp.partition, 0) > ends[tp] for tp in tps):  # the topic was deleted and made anew
            positions, out = {}, {}
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(positions.get(tp.partition, 0), starts[tp]))
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for rec in records:
                    topic, partition, upstream, _ = decode_offset_sync(rec.key, rec.value)
                    out[(topic, partition)] = (upstream + 1, rec.timestamp / 1000)
        cursor.positions = {tp.partition: await consumer.position(tp) for tp in tps}
        cursor.syncs = out
    return dict(out)


async def site_ends(site: Site, topics: list[str], timeout: float) -> dict[tuple[str, int], int] | None:
    """End offsets (committed records) of the site's topics; None when the site does not answer."""
    async def ends() -> dict[tuple[str, int], int]:
        async with kafka_clients.consumer_of(site.kafka, request_timeout_ms=int(timeout * 1000)) as consumer:
            tps: list[TopicPartition] = []
            for topic in topics:
                tps += await kafka_clients.partitions_of(consumer, topic)
            return {(tp.topic, tp.partition): end for tp, end in (await consumer.end_offsets(tps)).items()}
    try:
        return await asyncio.wait_for(ends(), timeout)
    except Exception:  # noqa: BLE001 - unreachable for any reason is reported as such
        return None


async def mirror_status(config: SitesConfig, timeout: float = 10.0,
                        cursors: dict[str, SyncCursor] | None = None) -> list[SiteStatus]:
    """Per site: each mirrored partition's site end offset, mirrored position and last sync.
    A caller that checks again and again passes the same ``cursors`` (site -> SyncCursor)."""
    out = []
    for site in config.sites:
        topics = [site.topic_prefix + t for t in config.mirror.topics]
        # Syncs first: the site's end offsets read after them are never behind what they say.
        cursor = None if cursors is None else cursors.setdefault(site.name, SyncCursor())
        syncs = await last_syncs(config.central.kafka, site.name, cursor)
        ends = await site_ends(site, topics, timeout)
        keys = sorted(set(syncs) | set(ends or {}))
        parts = [PartitionStatus(topic, partition, None if ends is None else ends.get((topic, partition), 0),
                                 syncs.get((topic, partition), (0, None))[0], syncs.get((topic, partition), (0, None))[1])
                 for topic, partition in keys if topic in topics]
        out.append(SiteStatus(site.name, ends is not None, parts))
    return out


def render(statuses: list[SiteStatus], now: float | None = None) -> str:
    """The status as text, one line per site and per topic."""
    now = time.time() if now is None else now
    lines = []
    for s in statuses:
        d = s.as_dict()
        age = "never" if d["last_sync"] is None else f"{now - d['last_sync']:.1f} s ago"
        lag = "site unreachable" if not s.reachable else f"lag {d['lag']}"
        lines.append(f"{s.site}: mirrored {d['mirrored']} of {d['site_end'] if s.reachable else '?'} records, {lag}, "
                     f"last sync {age}")
        for topic, t in d["topics"].items():
            lines.append(f"  {topic} -> {mirrored_topic(s.site, topic)}: mirrored {t['mirrored']}"
                         + ("" if t["lag"] is None else f", lag {t['lag']}"))
    return "\n".join(lines)


def targets_of(statuses: list[SiteStatus], targets: dict | None = None) -> dict[tuple[str, str, int], int]:
    """The site end offsets to wait for: those of ``statuses``, keeping ``targets`` already
    fixed (a live site keeps appending; waiting for lag 0 could never end)."""
    out = dict(targets or {})
    for s in statuses:
        if s.reachable:
            for p in s.partitions:
                if p.site_end is not None:
                    out.setdefault((s.site, p.topic, p.partition), p.site_end)
    return out


def progress_to(statuses: list[SiteStatus], targets: dict[tuple[str, str, int], int]) -> dict[str, tuple[int, int]]:
    """Per site: (records mirrored towards the targets, records the targets ask for). Pure."""
    out: dict[str, tuple[int, int]] = {}
    for s in statuses:
        mirrored = {(p.topic, p.partition): p.mirrored for p in s.partitions}
        mine = {(t, p): end for (site, t, p), end in targets.items() if site == s.site}
        done = sum(min(mirrored.get(tp, 0), end) for tp, end in mine.items())
        out[s.site] = (done, sum(mine.values()))
    return out
