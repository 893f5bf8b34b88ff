"""Rebuild and verify projections: fold the log up to the group's committed offsets.

``rebuild`` replaces each chosen table's changelog with the folded content
and removes this host's local RocksDB files, so the next worker restores the
rebuilt table; the consumer group's offsets are not moved (the table again
matches exactly the events the group has processed). ``verify`` folds into
memory only and compares with what the live changelog holds.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from factory_app.config import PlantConfig
from factory_app.replay.changelog import delete_local_state, read_changelog, replace_changelog
from factory_app.replay.digest import differences, digest
from factory_app.replay.groups import committed_offsets, require_idle
from factory_app.replay.log_reader import read_until
from factory_app.replay.progress import log_progress
from factory_app.replay.projections import Fold, folds, group_by_processor
from factory_app.settings import Settings
from factory_app.snapshots.store import Point


@dataclass
class TableReport:
    table: str
    digest: str
    keys: int
    live_digest: str | None = None
    differences: list | None = None


@dataclass
class FoldResult:
    folds: list[Fold]
    stops: dict[TopicPartition, int]
    # From verified snapshots: processor -> partition -> the point its fold started at.
    started: dict[str, dict[int, Point]] = field(default_factory=dict)
    read: int = 0  # source records read

    @property
    def commands_computed(self) -> int:
        return sum(f.commands_computed for f in self.folds)


def _feeders(settings: Settings, active: list[Fold]) -> dict[str, list[Fold]]:
    feeders: dict[str, list[Fold]] = {}
    for f in active:
        for source in f.sources:
            feeders.setdefault(settings.topic(source), []).append(f)
    return feeders


async def fold_partitions(settings: Settings, plant: PlantConfig | None, tables: list[str],
                          stops: dict[TopicPartition, int], progress=None) -> FoldResult:
    """Fold the source records before ``stops`` through the processors owning ``tables``."""
    makers = folds(settings, plant)
    active = [makers[p]() for p in group_by_processor(tables, settings, plant)]
    feeders = _feeders(settings, active)
    async for rec in read_until(settings, {tp: o for tp, o in stops.items() if tp.topic in feeders}, progress):
        for f in feeders[rec.topic]:
            f.feed(rec)
    return FoldResult(active, stops)


async def fold_from_snapshots(settings: Settings, plant: PlantConfig | None, tables: list[str],
                              stops: dict[TopicPartition, int], show_progress: bool = True) -> FoldResult:
    """``fold_partitions`` with each processor's fold of a partition started from its newest
    verified snapshot at or before ``stops`` (``factory verify --snapshots`` marks them); a
    processor or partition without one folds from offset 0. One pass from the earliest start."""
    from factory_app.snapshots.seeds import verified_seeds

    makers = folds(settings, plant)
    active = [makers[p]() for p in group_by_processor(tables, settings, plant)]
    feeders = _feeders(settings, active)
    stops = {tp: o for tp, o in stops.items() if tp.topic in feeders}
    started: dict[str, dict[int, Point]] = {}
    begin: dict[str, dict[TopicPartition, int]] = {}  # processor -> where its fold goes on
    for f in active:
        seeds = verified_seeds(settings, plant, f.processor, stops)
        started[f.processor] = {p: seed.point for p, seed in seeds.items()}
        begin[f.processor] = {}
        for p, seed in seeds.items():
            f.by_partition[p] = seed.tables
            begin[f.processor].update(seed.offsets(settings))
    starts = {tp: min(begin[f.processor].get(tp, 0) for f in feeders[tp.topic]) for tp in stops}
    read = 0
    tails = {tp: max(0, stops[tp] - starts[tp]) for tp in stops}  # what is read: the bars' totals
    with log_progress(tails, "folding the log after the snapshots") if show_progress else nullcontext() as advance:
        async for rec in read_until(settings, stops, advance, starts):
            read += 1
            tp = TopicPartition(rec.topic, rec.partition)
            for f in feeders[rec.topic]:
                if rec.offset >= begin[f.processor].get(tp, 0):
                    f.feed(rec)
    return FoldResult(active, stops, started, read)


async def fold_tables(settings: Settings, plant: PlantConfig | None, tables: list[str],
                      show_progress: bool = True, processes: int = 1, from_snapshots: bool = False) -> FoldResult:
    """Fold the source topics up to the group's committed offsets through the owning processors,
    in ``processes`` processes (each a share of the partitions: keys never span partitions), or
    (``from_snapshots``) from the newest verified snapshots."""
    makers = folds(settings, plant)
    feeders = _feeders(settings, [makers[p]() for p in group_by_processor(tables, settings, plant)])
    committed = await committed_offsets(settings, settings.worker.app_id)
    stops = {tp: off for tp, off in committed.items() if tp.topic in feeders}
    if from_snapshots:
        if processes > 1:
            raise ValueError("--from-snapshots folds only the tails after the snapshots, in one process")
        return await fold_from_snapshots(settings, plant, tables, stops, show_progress)
    with log_progress(stops, "folding the log", per_partition=processes > 1) if show_progress \
            else nullcontext() as advance:
        if processes > 1:
            from factory_app.replay.parallel import fold_in_processes

            return await fold_in_processes(settings, plant, tables, stops, processes, advance)
        return await fold_partitions(settings, plant, tables, stops, advance)


def _table_content(result: FoldResult, table: str) -> tuple[dict, dict[int, dict]]:
    """The folded table, whole and per partition (the partition its changelog records go to)."""
    for f in result.folds:
        if table in f.tables:
            return f.merged()[table], {p: t[table] for p, t in f.by_partition.items()}
    raise KeyError(table)


async def rebuild(settings: Settings, plant: PlantConfig | None, tables: list[str],
                  show_progress: bool = True, processes: int = 1,
                  from_snapshots: bool = False) -> tuple[list[TableReport], FoldResult]:
    """Recompute ``tables`` from the log (``from_snapshots``: from the newest verified snapshots
    on) and replace their changelogs and local state."""
    await require_idle(settings, settings.worker.app_id)
    result = await fold_tables(settings, plant, tables, show_progress, processes, from_snapshots)
    reports = []
    for table in tables:
        merged, per_partition = _table_content(result, table)
        await replace_changelog(settings, table, per_partition)
        delete_local_state(settings, table)
        reports.append(TableReport(table, digest(merged), len(merged)))
    return reports, result


async def verify(settings: Settings, plant: PlantConfig | None, tables: list[str],
                 show_progress: bool = True) -> tuple[list[TableReport], FoldResult]:
    """Fold ``tables`` into scratch memory and compare each with the live changelog, per key."""
    result = await fold_tables(settings, plant, tables, show_progress)
    reports = []
    for table in tables:
        merged, _ = _table_content(result, table)
        live = await read_changelog(settings, table)
        reports.append(TableReport(table, digest(merged), len(merged), digest(live), differences(live, merged)))
    return reports, result
