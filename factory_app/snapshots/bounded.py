"""Bounded history reads: one partition's records for "as of instant T", from the newest usable snapshot.

The fold from offset 0 that ``state-at`` answered with reads every record and skips those
stamped after T. The same answer costs far less: start from the newest snapshot whose events
all lie at or before T (its tables are that fold's state at its offsets), read on until the
broker's time index passes T + ``history_lateness``, then read by offset only the late events
the ledgers list after that (recorded later than the bound) and, past the newest snapshot
(which no ledger covers yet), everything. Per topic the records come in log order, and the
two topics are merged as ``log_reader.read_until`` merges them, so the fold is the same fold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from agents import telemetry_state
from factory_app import events
from factory_app.replay.log_reader import Record, interleaved
from factory_app.settings import Settings
from factory_app.snapshots.build import ACTIONS, TELEMETRY, fingerprints, records
from factory_app.snapshots.store import Ledger, Point, SnapshotStore

_GAP = 64  # ledger offsets closer than this are read as one range


@dataclass
class Span:
    """What one topic of a partition is read as: a run from the snapshot, late offsets, an uncovered run."""

    tp: TopicPartition
    start: int  # the snapshot's offset (0: the log's start)
    stop: int  # where the run from the snapshot ends (the time index, or the limit)
    late: list[int] = field(default_factory=list)  # offsets after ``stop`` the ledgers list, in order
    uncovered: tuple[int, int] = (0, 0)  # past the newest ledger: read whole, [from, to)

    @property
    def planned(self) -> int:
        return (self.stop - self.start) + len(self.late) + max(0, self.uncovered[1] - self.uncovered[0])


@dataclass
class PartitionPlan:
    partition: int
    point: Point | None  # the snapshot started from (None: the log's start)
    tables: dict[str, dict]  # its telemetry-state tables (empty without one)
    telemetry: Span
    actions: Span

    @property
    def planned(self) -> int:
        return self.telemetry.planned + self.actions.planned


def choose_point(points: list[Point], at: float | None, until: int | None) -> Point | None:
    """The newest point folded from events at or before ``at`` only and short of telemetry offset ``until``. Pure."""
    usable = [p for p in points if p.at_or_before(at) and (until is None or p.telemetry <= until)]
    return max(usable, default=None)


def ledger_chain(ledgers: list[Ledger], start: Point | None) -> tuple[list[Ledger], tuple[int, int]]:
    """Ledgers that follow one another from ``start`` (the log's start if None), and the offsets
    (telemetry, actions) up to which they account for every late event. Pure."""
    at = (start.telemetry, start.actions) if start else (0, 0)
    by_start: dict[tuple[int, int], Ledger] = {}
    for g in ledgers:  # sorted by end: for one start, the one reaching furthest wins
        by_start[(g.start.telemetry, g.start.actions)] = g
    chain = []
    while at in by_start:
        g = by_start[at]
        chain.append(g)
        at = (g.to.telemetry, g.to.actions)
    return chain, at


def span(tp: TopicPartition, start: int, limit: int, by_time: int | None, covered: int, late: list[int]) -> Span:
    """A topic's reads: from ``start`` to where the time index says (``by_time``; None: no time
    bound), the ledger's late offsets between there and ``covered``, everything from ``covered`` on. Pure."""
    if by_time is None:
        return Span(tp, start, max(start, limit))
    stop = max(start, min(by_time, limit))
    return Span(tp, start, stop, [o for o in late if stop <= o < min(covered, limit)],
                (max(stop, covered), limit) if limit > max(stop, covered) else (0, 0))


async def plan(settings: Settings, consumer, partition: int, ends: dict[TopicPartition, int],
               at: float | None, until: int | None, full: bool = False) -> PartitionPlan:
    """How to read ``partition`` for "as of ``at``" and/or "telemetry before offset ``until``".
    ``full``: as if there were no snapshots (the reference read)."""
    tel = TopicPartition(settings.topic(events.TELEMETRY), partition)
    act = TopicPartition(settings.topic(events.OPERATOR_ACTIONS), partition)
    store = SnapshotStore(settings.snapshots_dir)
    proc = telemetry_state.PROCESSOR
    fp = fingerprints(settings, None, [telemetry_state.SPEC])[proc]
    lateness_ms = int(settings.worker.history_lateness * 1000)
    point = None if full else choose_point(store.points(partition, proc, fp), at, until)
    tables = store.read_snapshot(partition, point, proc, fp)["tables"] if point else {}
    tel_limit = min(ends.get(tel, 0), until) if until is not None else ends.get(tel, 0)
    act_limit = ends.get(act, 0)
    if at is None:
        return PartitionPlan(partition, point, tables, span(tel, point.telemetry if point else 0, tel_limit, None, 0, []),
                             span(act, point.actions if point else 0, act_limit, None, 0, []))
    target = int(at * 1000) + lateness_ms
    wanted = {tp: target for tp in (tel, act) if tp in ends}
    found = await consumer.offsets_for_times(wanted) if wanted else {}
    by_time = {tp: (ot.offset if ot is not None else ends[tp]) for tp, ot in found.items()}
    chain, covered = ([], (0, 0)) if full else ledger_chain(store.ledgers(partition, lateness_ms), point)
    late: tuple[list[int], list[int]] = ([], [])
    for g in chain:
        if g.covers(at):
            for topic, offset, event_time in store.read_ledger(partition, g, lateness_ms):
                if event_time <= at:
                    late[topic].append(offset)
    return PartitionPlan(
        partition, point, tables,
        span(tel, point.telemetry if point else 0, tel_limit, by_time.get(tel, tel_limit), covered[TELEMETRY],
             sorted(set(late[TELEMETRY]))),
        span(act, point.actions if point else 0, act_limit, by_time.get(act, act_limit), covered[ACTIONS],
             sorted(set(late[ACTIONS]))))


async def _offsets(consumer, tp: TopicPartition, offsets: list[int]) -> AsyncIterator[Record]:
    """The records at ``offsets`` (sorted), read in runs of near neighbours."""
    i = 0
    while i < len(offsets):
        j = i
        while j + 1 < len(offsets) and offsets[j + 1] - offsets[j] <= _GAP:
            j += 1
        wanted = set(offsets[i:j + 1])
        async for rec in records(consumer, tp, offsets[i], offsets[j] + 1):
            if rec.offset in wanted:
                yield rec
        i = j + 1


async def read_span(consumer, s: Span) -> AsyncIterator[Record]:
    """A topic's records as ``s`` plans them, in offset order."""
    async for rec in records(consumer, s.tp, s.start, s.stop):
        yield rec
    async for rec in _offsets(consumer, s.tp, s.late):
        yield rec
    if s.uncovered[1] > s.uncovered[0]:
        async for rec in records(consumer, s.tp, *s.uncovered):
            yield rec


async def read_plan(consumer, p: PartitionPlan) -> AsyncIterator[Record]:
    """The partition's records in fold order: operator actions among telemetry by record time."""
    side = [rec async for rec in read_span(consumer, p.actions)]
    async for rec in interleaved(read_span(consumer, p.telemetry), side):
        yield rec
