"""Where a rebuild may start instead of offset 0: the newest *verified* snapshot at or before the stops.

A snapshot is derived and disposable, so a rebuild trusts one only once ``factory verify
--snapshots`` has folded the log up to it and found every table equal, and only while its
bytes are still the ones verified (``SnapshotStore.read_verified``). The from-zero rebuild
stays the reference; this is the fast recovery.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition

from factory_app import events
from factory_app.config import PlantConfig
from factory_app.settings import Settings
from factory_app.snapshots.build import fingerprints, snapshotted
from factory_app.snapshots.store import Point, SnapshotStore, unpack_tables


@dataclass
class Seed:
    partition: int
    point: Point
    tables: dict[str, dict]

    def offsets(self, settings: Settings) -> dict[TopicPartition, int]:
        """The point's position on each source topic (where the fold goes on)."""
        return {TopicPartition(settings.topic(events.TELEMETRY), self.partition): self.point.telemetry,
                TopicPartition(settings.topic(events.OPERATOR_ACTIONS), self.partition): self.point.actions}


def within(point: Point, partition: int, stops: dict[TopicPartition, int], settings: Settings) -> bool:
    """Whether the point lies at or before the stops on both topics (a topic not read: offset 0). Pure."""
    tel = TopicPartition(settings.topic(events.TELEMETRY), partition)
    act = TopicPartition(settings.topic(events.OPERATOR_ACTIONS), partition)
    return point.telemetry <= stops.get(tel, 0) and point.actions <= stops.get(act, 0)


def verified_seeds(settings: Settings, plant: PlantConfig | None, processor: str,
                   stops: dict[TopicPartition, int]) -> dict[int, Seed]:
    """Per partition, ``processor``'s newest verified snapshot within ``stops``; none for a
    processor that is not snapshotted (its fold starts at offset 0)."""
    fps = fingerprints(settings, plant, snapshotted(settings, plant))
    if processor not in fps:
        return {}
    store = SnapshotStore(settings.snapshots_dir)
    out = {}
    for partition in store.partitions():
        for point in sorted(store.verified_points(partition, processor, fps[processor]), reverse=True):
            if not within(point, partition, stops, settings):
                continue
            body = store.read_verified(partition, point, processor, fps[processor])
            if body is not None:  # else changed since it was verified: an older one may still serve
                out[partition] = Seed(partition, point, unpack_tables(body["tables"]))
                break
    return out
