"""``factory verify --snapshots``: fold the log up to each partition's newest snapshot and compare, per table.

The fold is the replays' own (``log_reader.read_until`` up to the point's two offsets, the
processors' steps through ``replay.projections``), not the builder's loop, so a snapshot
that does not say what the log says (a bug in the builder, a changed step, a damaged file)
shows as a difference per key.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition

from factory_app import events
from factory_app.config import PlantConfig
from factory_app.replay.digest import differences, digest
from factory_app.replay.log_reader import read_until
from factory_app.replay.projections import folds
from factory_app.settings import Settings
from factory_app.snapshots.build import fingerprints, snapshotted
from factory_app.snapshots.store import Point, SnapshotStore, unpack_tables


@dataclass
class SnapshotReport:
    partition: int
    point: Point
    processor: str
    table: str
    keys: int
    digest: str
    folded_digest: str
    differences: list

    @property
    def same(self) -> bool:
        return self.digest == self.folded_digest


async def verify_snapshots(settings: Settings, plant: PlantConfig | None, progress=None,
                           mark: bool = True) -> list[SnapshotReport]:
    """Every partition's newest point, each processor snapshotted there, compared table by table;
    ``mark``: a snapshot equal in every table is marked verified (``SnapshotStore.mark_verified``)."""
    store = SnapshotStore(settings.snapshots_dir)
    fps = fingerprints(settings, plant, snapshotted(settings, plant))
    makers = folds(settings, plant)
    tel, act = settings.topic(events.TELEMETRY), settings.topic(events.OPERATOR_ACTIONS)
    reports = []
    for partition in store.partitions():
        newest = {name: max(store.points(partition, name, fp), default=None) for name, fp in fps.items()}
        for name, point in newest.items():
            if point is None:
                continue
            fold = makers[name]()
            stops = {TopicPartition(tel, partition): point.telemetry, TopicPartition(act, partition): point.actions}
            async for rec in read_until(settings, stops, progress):
                fold.feed(rec)
            folded = fold.by_partition.get(partition) or {t: {} for t in fold.tables}
            snap = unpack_tables(store.read_snapshot(partition, point, name, fps[name])["tables"])
            here = [SnapshotReport(partition, point, name, table, len(snap.get(table, {})), digest(snap.get(table, {})),
                                   digest(folded.get(table, {})), differences(snap.get(table, {}), folded.get(table, {})))
                    for table in fold.tables]
            if mark and all(r.same for r in here):
                store.mark_verified(partition, point, name, fps[name])  # what `rebuild --from-snapshots` starts from
            reports += here
    return reports
