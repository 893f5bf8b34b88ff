"""Bounded history reads: one partition's records for "as of instant T", from the newest usable snapshot.

The fold from offset 0 that ``state-at`` answered with reads every record and skips those
stamped after T. The same answer costs far less: start from the newest snapshot whose events
all lie at or before T (its tables are that fold's state at its offsets), read on until the
topic has carried an event ``history_lateness`` younger than T, then read by offset only the
late events the ledgers list after that and, past the newest ledger, everything (no ledger
speaks for it yet). Per topic the records come in log order, and the two topics are merged
as ``log_reader.read_until`` merges them, so the fold is the same fold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from agents import telemetry_state
from factory_app import events
from factory_app.replay.log_reader import Record, interleaved
from factory_app.settings import Settings
from factory_app.snapshots.build import ACTIONS, TELEMETRY, TIMED, fingerprints, lateness_ms, records
from factory_app.snapshots.store import Ledger, Point, SnapshotStore, unpack_tables

_GAP = 64  # ledger offsets closer than this are read as one run


@dataclass(frozen=True)
class DecodedRecord(Record):
    """A record the read decoded already (to follow the topic's event time): ``event`` is None
    when it does not decode (as a TIMED event)."""

    event: object = None


def decoded(rec: Record, ev) -> DecodedRecord:
    return DecodedRecord(rec.topic, rec.partition, rec.offset, rec.timestamp_ms, rec.key, rec.value, ev)


@dataclass
class TopicRead:
    """How one topic of a partition is read, and (filled while reading) what was read."""

    tp: TopicPartition
    start: int  # the snapshot's offset (0: the log's start)
    limit: int  # nothing at or after it is read (the end offset, or ``until``)
    hwm: float | None  # the topic's greatest event time before ``start``
    covered: int  # the ledgers account for every late event before this offset
    late: list[int] = field(default_factory=list)  # offsets the ledgers list as late, event time <= T
    stopped_at: int | None = None
    read: dict[str, int] = field(default_factory=lambda: {"from_snapshot": 0, "late": 0, "uncovered": 0})


@dataclass
class PartitionPlan:
    partition: int
    point: Point | None  # the snapshot started from (None: the log's start)
    tables: dict[str, dict]  # its telemetry-state tables (empty without one)
    telemetry: TopicRead
    actions: TopicRead

    @property
    def estimate(self) -> int:
        """Records it should read: to the next point past T + lateness, the late ones, the uncovered ones."""
        return sum(max(0, t.covered - t.start) + len(t.late) for t in (self.telemetry, self.actions))


class HistoryGone(LookupError):
    """The log no longer holds what the instant needs (retention removed it) and no snapshot
    newer than the retained start is at or before the instant."""


def gone_message(partition: int, at: float | None, first: dict[str, int], oldest: Point | None) -> str:
    where = ", ".join(f"{topic} from offset {off}" for topic, off in first.items())
    answerable = ("no snapshot of it starts inside the retained log, so no instant can be answered exactly "
                  "from it" if oldest is None else
                  f"the oldest instant it answers is {oldest.hwm} (its oldest snapshot inside the retained log)")
    return (f"partition {partition}: the log before {where} is gone (retention) and {answerable}; "
            f"asked for {at}. factory state-at --full folds what is retained (not the plant's state then)")


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


def past_the_bound(hwm: float | None, at: float, lateness: float) -> bool:
    """Whether a topic that has carried events up to ``hwm`` is past the instant's bound: every
    later event at or before ``at`` is then in the ledger (``build.late_entry``). Pure."""
    return hwm is not None and hwm >= at + lateness


def after_the_stop(late: list[int], stop: int, covered: int) -> list[int]:
    """The ledger's offsets a read that stopped at ``stop`` still needs. Pure."""
    return [o for o in late if stop <= o < covered]


@dataclass(frozen=True)
class Source:
    """Whose snapshots a read starts from: a processor, shaped as its fingerprint says, and the tables wanted."""

    processor: str
    fingerprint: str
    tables: tuple[str, ...]


def state_source(settings: Settings) -> Source:
    """telemetry-state's asset states and modes: what ``state-at`` folds."""
    fp = fingerprints(settings, None, [telemetry_state.SPEC])[telemetry_state.PROCESSOR]
    return Source(telemetry_state.PROCESSOR, fp, ("asset_state", "asset_mode"))


async def plan(settings: Settings, partition: int, ends: dict[TopicPartition, int],
               at: float | None, until: int | None, full: bool = False,
               firsts: dict[TopicPartition, int] | None = None, source: Source | None = None,
               start_at: float | None = None) -> PartitionPlan:
    """How to read ``partition`` for "as of ``at``" and/or "telemetry before offset ``until``",
    from the newest point at or before ``start_at`` (default ``at``) of ``source`` (default
    telemetry-state's). ``full``: as if there were no snapshots (the reference read).
    ``firsts``: the first retained offsets; HistoryGone when the read would have to start
    before one of them."""
    tel = TopicPartition(settings.topic(events.TELEMETRY), partition)
    act = TopicPartition(settings.topic(events.OPERATOR_ACTIONS), partition)
    store = SnapshotStore(settings.snapshots_dir)
    source = source or state_source(settings)
    proc, fp = source.processor, source.fingerprint
    lateness = lateness_ms(settings)
    points = store.points(partition, proc, fp)
    point = None if full else choose_point(points, at if start_at is None else start_at, until)
    first = {tp: (firsts or {}).get(tp, 0) for tp in (tel, act)}
    start = {tel: point.telemetry if point else 0, act: point.actions if point else 0}
    if not full and any(first[tp] > start[tp] for tp in first):
        inside = [p for p in points if p.telemetry >= first[tel] and p.actions >= first[act]]
        raise HistoryGone(gone_message(partition, at, {tp.topic: off for tp, off in first.items() if off},
                                       min(inside, default=None)))
    body = store.read_snapshot(partition, point, proc, fp) if point else {"tables": {}, "topic_hwm": [None, None]}
    chain, covered = ([], (0, 0)) if full or at is None else ledger_chain(store.ledgers(partition, lateness), point)
    late: tuple[list[int], list[int]] = ([], [])
    for g in chain:
        if g.covers(at):
            for topic, offset, event_time in store.read_ledger(partition, g, lateness):
                if event_time <= at:
                    late[topic].append(offset)
    tel_limit = ends.get(tel, 0) if until is None else min(ends.get(tel, 0), until)
    reads = [TopicRead(tp, start, limit, body["topic_hwm"][i], covered[i], sorted(set(late[i])))
             for i, (tp, start, limit) in enumerate(((tel, point.telemetry if point else 0, tel_limit),
                                                     (act, point.actions if point else 0, ends.get(act, 0))))]
    tables = unpack_tables(body["tables"], source.tables) if point else {}
    return PartitionPlan(partition, point, tables, reads[TELEMETRY], reads[ACTIONS])


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


async def read_topic(consumer, t: TopicRead, at: float | None, lateness: float,
                     max_clock_ahead: float, past_the_stop: bool = True) -> AsyncIterator[Record]:
    """A topic's records for the instant, in offset order: on from the snapshot until the topic
    is past the bound, then (``past_the_stop``) the ledger's late offsets and whatever no ledger covers."""
    hwm, stop = t.hwm, t.limit
    async for rec in records(consumer, t.tp, t.start, t.limit):
        if at is not None and past_the_bound(hwm, at, lateness):
            stop = rec.offset
            break
        t.read["from_snapshot"] += 1
        try:
            ev = events.decode_source(rec.key, rec.value, rec.timestamp_ms / 1000, TIMED, max_clock_ahead)
        except events.DecodeFailure:
            yield decoded(rec, None)
            continue
        hwm = ev.event_time if hwm is None else max(hwm, ev.event_time)
        yield decoded(rec, ev)
    t.stopped_at = stop
    if stop >= t.limit or not past_the_stop:
        return
    async for rec in _offsets(consumer, t.tp, after_the_stop(t.late, stop, min(t.covered, t.limit))):
        t.read["late"] += 1
        yield rec
    for start in (max(stop, t.covered),):
        if start < t.limit:
            async for rec in records(consumer, t.tp, start, t.limit):
                t.read["uncovered"] += 1
                yield rec


async def read_plan(settings: Settings, consumer, p: PartitionPlan, at: float | None,
                    past_the_stop: bool = True) -> AsyncIterator[Record]:
    """The partition's records in fold order: operator actions among telemetry by record time.
    Without ``past_the_stop``: only the run from the snapshot to the bound (a fold that needs
    every event in log order, like the rules', cannot take late ones out of their place)."""
    lateness, ahead = lateness_ms(settings) / 1000, settings.worker.max_clock_ahead
    side = [rec async for rec in read_topic(consumer, p.actions, at, lateness, ahead, past_the_stop)]
    async for rec in interleaved(read_topic(consumer, p.telemetry, at, lateness, ahead, past_the_stop), side):
        yield rec
