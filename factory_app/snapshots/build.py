"""``factory snapshots build``: fold the log forward from each partition's newest snapshot, writing new ones.

A process of its own beside the workers (not inside them): the live path does not pause
to copy tables, and what a snapshot holds is the replays' fold (``replay.projections``, the
processors' own steps) at an exact point of the log, which is what a bounded read resumes.
It folds the telemetry-sourced processors (telemetry-state always, for time travel, and any
other the deployment runs that reads only telemetry and operator actions), one partition at a
time, in ``read_until``'s order, and keeps a ledger of late events as it goes (``late_entry``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cached_property

from aiokafka import TopicPartition

from agents import registry, telemetry_state
from agents.runtime import Processor
from factory_app import events, kafka_clients, metrics
from factory_app.config import PlantConfig
from factory_app.replay.log_reader import Record, end_offsets
from factory_app.replay.projections import Fold, folds
from factory_app.settings import Settings
from factory_app.snapshots.store import Ledger, Point, SnapshotStore, fingerprint, hwm_ms, pack_tables, unpack_tables

TELEMETRY, ACTIONS = 0, 1  # the topic of a ledger entry
_STREAM = (events.TELEMETRY, events.OPERATOR_ACTIONS)
# The events whose times make a partition's high-water marks (what state-at folds).
TIMED = (events.Telemetry, events.StateTransition, events.ModeChange)


def late_entry(event_time: float, hwm_before: float | None, lateness: float) -> bool:
    """Whether an event belongs in the ledger: its topic partition had already carried an event
    ``lateness`` seconds younger, so a bounded read for any instant at or after this event's
    time has stopped before reaching it (``bounded.read_topic``). Event time, not the broker's
    record time: a mirror's or a backfill's append time says nothing of when things happened. Pure."""
    return hwm_before is not None and event_time + lateness <= hwm_before


def snapshotted(settings: Settings, plant: PlantConfig | None) -> list[Processor]:
    """The processors whose tables the snapshots hold: telemetry-state, and every other one the
    deployment runs that reads only telemetry and operator actions (and has its plant file)."""
    out = [telemetry_state.SPEC]
    try:
        chosen = registry.chosen(settings)
    except ValueError:  # an unknown processor name: the worker refuses to start and says so
        chosen = []
    for p in chosen:
        if p is not telemetry_state.SPEC and set(p.sources) <= set(_STREAM) and (plant or not p.uses_plant):
            out.append(p)
    return out


def fingerprints(settings: Settings, plant: PlantConfig | None, processors: list[Processor]) -> dict[str, str]:
    """What shapes each processor's tables besides the log: the fold settings, and the plant file
    for a processor that uses it. A snapshot of another fingerprint is not resumed or read."""
    w = settings.worker
    shaping = {"window_seconds": w.window_seconds, "window_retention": w.window_retention,
               "dedup_horizon": w.dedup_horizon, "max_clock_ahead": w.max_clock_ahead,
               "kpi_period_seconds": w.kpi_period_seconds, "kpi_periods": w.kpi_periods}
    return {p.name: fingerprint({"processor": p.name, **shaping,
                                 **({"plant": plant.model_dump(mode="json")} if p.uses_plant and plant else {})})
            for p in processors}


class RetentionGap(RuntimeError):
    """The log's retained start is past where the snapshots go on from."""


def lateness_ms(settings: Settings) -> int:
    """The lateness bound as the ledgers' names carry it (ms: a float would not name a file well)."""
    return int(round(settings.worker.history_lateness * 1000))


@dataclass
class PartitionFold:
    """One partition's fold: the processors' tables, where it stands, and its late events since the last point."""

    partition: int
    folds: dict[str, Fold]
    point: Point = Point(0, 0, -1)
    hwm: float | None = None
    topic_hwm: list = field(default_factory=lambda: [None, None])  # per topic: greatest event time so far
    events: int = 0
    ledger_start: Point = Point(0, 0, -1)
    late: list[list] = field(default_factory=list)
    since_point: int = 0
    span_start: float | None = None
    position: tuple[int, int] = (0, 0)  # next (telemetry, operator-actions) offsets the fold reads, past ``point``
    partial: Ledger | None = None  # the ledger from ``point`` to ``position`` written at a round's end

    @cached_property
    def accept(self) -> tuple[type, ...]:
        """Every type one of the folds accepts, in a fixed order (asked once per record: computed once)."""
        return tuple(dict.fromkeys(t for f in self.folds.values() for t in f.accept))

    def fold(self, rec: Record, topic: int, lateness: float, max_clock_ahead: float) -> None:
        try:
            event = events.decode_source(rec.key, rec.value, rec.timestamp_ms / 1000, self.accept, max_clock_ahead)
        except events.DecodeFailure:
            return  # dead-lettered live, skipped by every replay
        if isinstance(event, TIMED):
            before = self.topic_hwm[topic]
            if late_entry(event.event_time, before, lateness):
                self.late.append([topic, rec.offset, event.event_time])
            self.topic_hwm[topic] = event.event_time if before is None else max(before, event.event_time)
        self.hwm = event.event_time if self.hwm is None else max(self.hwm, event.event_time)
        if self.span_start is None:
            self.span_start = event.event_time
        self.events += 1
        for f in self.folds.values():
            f.feed_event(self.partition, event, rec.offset)

    def due(self, every_events: int, every_seconds: float) -> bool:
        return self.since_point >= every_events or (
            self.hwm is not None and self.span_start is not None and self.hwm - self.span_start >= every_seconds)

    def body(self, processor: str, fp: str) -> dict:
        f = self.folds[processor]
        return {"processor": processor, "partition": self.partition, "fingerprint": fp,
                "point": [self.point.telemetry, self.point.actions, self.point.hwm_ms], "hwm": self.hwm,
                "topic_hwm": list(self.topic_hwm), "events": self.events,
                "tables": pack_tables(f.by_partition.get(self.partition) or {t: {} for t in f.tables})}

    def write_point(self, store: SnapshotStore, fps: dict[str, str], lateness_ms: int) -> None:
        """Every processor's tables at ``self.point``, then the ledger that makes the point complete."""
        for name in self.folds:
            store.write_snapshot(self.partition, self.point, name, fps[name], self.body(name, fps[name]))
        min_e = min((math.floor(e * 1000) for _, _, e in self.late), default=-1)
        full = Ledger(self.ledger_start, self.point, min_e)
        store.write_ledger(self.partition, full, lateness_ms, self.late)
        self._drop_partial(store, lateness_ms, keep=full)
        self.ledger_start, self.late, self.since_point = self.point, [], 0
        self.span_start = None

    def write_partial(self, store: SnapshotStore, lateness_ms: int) -> None:
        """The late events from the last point to where the fold stands: a bounded read then
        needs to read whole only what the builder has not folded yet, not the rest of an interval."""
        end = Point(*self.position, hwm_ms(self.hwm))
        if (end.telemetry, end.actions) == (self.ledger_start.telemetry, self.ledger_start.actions):
            return
        ledger = Ledger(self.ledger_start, end, min((math.floor(e * 1000) for _, _, e in self.late), default=-1))
        store.write_ledger(self.partition, ledger, lateness_ms, self.late)
        self._drop_partial(store, lateness_ms, keep=ledger)
        self.partial = ledger

    def _drop_partial(self, store: SnapshotStore, lateness_ms: int, keep: Ledger) -> None:
        if self.partial is not None and self.partial != keep:
            store.ledger_path(self.partition, self.partial, lateness_ms).unlink(missing_ok=True)
        self.partial = None


def resume(store: SnapshotStore, partition: int, makers: dict[str, Callable[[], Fold]], fps: dict[str, str],
           lateness_ms: int) -> PartitionFold:
    """The partition's fold at its newest complete point (every processor's snapshot with the current
    fingerprint and a ledger ending there), else from the start of the log."""
    fresh = PartitionFold(partition, {name: makers[name]() for name in fps})
    complete = {g.to for g in store.ledgers(partition, lateness_ms)}
    for name, fp in fps.items():
        complete &= set(store.points(partition, name, fp))
    if not complete:
        return fresh
    point = max(complete)
    for g in store.ledgers(partition, lateness_ms):  # a round's partial ledger past the point: redone
        if (g.start.telemetry, g.start.actions) == (point.telemetry, point.actions) and g.to not in complete:
            store.ledger_path(partition, g, lateness_ms).unlink(missing_ok=True)
    first = None
    for name, fp in fps.items():
        body = store.read_snapshot(partition, point, name, fp)
        fresh.folds[name].by_partition[partition] = unpack_tables(body["tables"])
        first = first or body
    fresh.point = fresh.ledger_start = point
    fresh.position = (point.telemetry, point.actions)
    fresh.hwm, fresh.events = first["hwm"], first["events"]
    fresh.topic_hwm = list(first["topic_hwm"])
    return fresh


async def records(consumer, tp: TopicPartition, start: int, stop: int) -> AsyncIterator[Record]:
    """``tp``'s records in [start, stop) (start 0: from wherever the log begins)."""
    async for _, batch in kafka_clients.read_bounded(consumer, {tp: stop}, {tp: start} if start > 0 else None,
                                                     max_records=5000):
        for r in batch:
            yield Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value)


class SnapshotBuilder:
    """Folds every partition forward to the log's end and writes points on the way; call ``run_once``
    again to go on from where it stands (the folds stay in memory between rounds)."""

    def __init__(self, settings: Settings, plant: PlantConfig | None, from_retained: bool = False):
        self.settings = settings
        self.from_retained = from_retained  # fold a log whose beginning is gone from what it retains
        self.store = SnapshotStore(settings.snapshots_dir)
        processors = snapshotted(settings, plant)
        self.fps = fingerprints(settings, plant, processors)
        self.makers = {name: make for name, make in folds(settings, plant).items() if name in self.fps}
        self.lateness_ms = lateness_ms(settings)
        self.lateness = self.lateness_ms / 1000
        self.points_thinned = 0  # old points dropped (snapshot_keep_all_seconds, snapshot_thin_to_seconds)
        self.partitions: dict[int, PartitionFold] = {}
        self.points_written = 0

    def _part(self, partition: int) -> PartitionFold:
        if partition not in self.partitions:
            self.partitions[partition] = resume(self.store, partition, self.makers, self.fps, self.lateness_ms)
        return self.partitions[partition]

    async def remaining(self) -> dict[TopicPartition, int]:
        """Telemetry records each partition has yet to fold (for a progress display)."""
        tel = self.settings.topic(events.TELEMETRY)
        ends = await end_offsets(self.settings, [tel])
        return {tp: max(0, end - self._part(tp.partition).position[0]) for tp, end in ends.items()}

    async def run_once(self, progress: Callable[[TopicPartition, int], None] | None = None) -> int:
        """Fold up to the end offsets as of now; returns the points written."""
        s = self.settings
        tel, act = s.topic(events.TELEMETRY), s.topic(events.OPERATOR_ACTIONS)
        firsts, ends = await kafka_clients.log_bounds(s.kafka, [tel, act])
        for tp, first in firsts.items():
            if tp.topic == tel:
                self._check_retained(tp, first, firsts.get(TopicPartition(act, tp.partition), 0))
        written = self.points_written
        async with kafka_clients.consumer_of(s.kafka, max_partition_fetch_bytes=4 * 1024 * 1024) as consumer:
            for tp in sorted((tp for tp in ends if tp.topic == tel), key=lambda t: t.partition):
                await self._advance(consumer, self._part(tp.partition), tp, TopicPartition(act, tp.partition), ends,
                                    progress)
        if self.points_written > written:
            from factory_app.snapshots.thinning import thin  # (it reads through bounded, which imports this)

            self.points_thinned += thin(self.store, self.lateness_ms, s.worker.snapshot_keep_all_seconds,
                                        s.worker.snapshot_thin_to_seconds)
        return self.points_written - written

    def _check_retained(self, tp: TopicPartition, first_tel: int, first_act: int) -> None:
        """Refuse to fold across records the log no longer holds (RetentionGap names them)."""
        part = self._part(tp.partition)
        tel_next, act_next = part.position
        if tel_next >= first_tel and act_next >= first_act:
            return
        if (tel_next, act_next) == (0, 0) and self.from_retained:
            part.position = (first_tel, first_act)
            return
        raise RetentionGap(
            f"partition {tp.partition}: the log now starts at telemetry offset {first_tel} and operator-actions "
            f"offset {first_act}, but the snapshots go on from {tel_next} and {act_next}: the records between are "
            f"gone (retention ran ahead of the builder). " + (
                "Snapshots folded from the retained log alone would not be the plant's state; "
                "factory snapshots build --from-retained does so knowingly (in a new FACTORY_SNAPSHOT_DIR)"
                if (tel_next, act_next) == (0, 0) else
                "Keep the builder running (factory run and the compose stack do), or start over in a new "
                "FACTORY_SNAPSHOT_DIR with --from-retained"))

    async def _advance(self, consumer, part: PartitionFold, tel_tp: TopicPartition, act_tp: TopicPartition,
                       ends: dict[TopicPartition, int], progress) -> None:
        w = self.settings.worker
        act_end = ends.get(act_tp, 0)
        tel_next, act_next = part.position
        side = [r async for r in records(consumer, act_tp, act_next, act_end)]
        i, read = 0, 0
        async for rec in records(consumer, tel_tp, tel_next, ends[tel_tp]):
            # Operator actions go before the first telemetry record stamped later (log_reader.interleaved).
            while i < len(side) and side[i].timestamp_ms <= rec.timestamp_ms:
                part.fold(side[i], ACTIONS, self.lateness, w.max_clock_ahead)
                i += 1
            part.fold(rec, TELEMETRY, self.lateness, w.max_clock_ahead)
            part.since_point += 1
            tel_next, read = rec.offset + 1, read + 1
            if part.due(w.snapshot_every_events, w.snapshot_every_seconds):
                part.point = Point(rec.offset + 1, side[i].offset if i < len(side) else act_end, hwm_ms(part.hwm))
                part.write_point(self.store, self.fps, self.lateness_ms)
                self.points_written += 1
                metrics.SNAPSHOT_POINTS.labels(str(part.partition)).inc()
                await asyncio.sleep(0)
            if progress is not None and read % 5000 == 0:
                progress(tel_tp, read)
        if progress is not None:
            progress(tel_tp, read)
        # Operator actions after the last telemetry record wait for the next one (in read_until's merge
        # they come before it): the next round reads them again.
        part.position = (tel_next, side[i].offset if i < len(side) else act_end)
        part.write_partial(self.store, self.lateness_ms)
        metrics.SNAPSHOT_LAG.labels(str(part.partition)).set(max(0, ends[tel_tp] - part.point.telemetry))
