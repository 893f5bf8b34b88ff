"""Time travel: the state of assets as it was at a past instant, folded from the log.

``state_at`` starts each partition from its newest usable snapshot and reads only what the
instant needs (factory_app/snapshots/bounded.py); ``state_at_from_start`` is the reference it
must equal: every record from offset 0, those stamped after the instant skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import TopicPartition

from factory_app import events, kafka_clients
from factory_app.kafka_clients import asset_partition
from factory_app.replay.log_reader import end_offsets, read_until
from factory_app.settings import Settings
from tables import values
from tables.asset_mode import fold_mode, with_mode
from factory_app.snapshots.build import TIMED
from tables.asset_state import apply_event, seen_before

_ACCEPT = TIMED  # what telemetry-state folds; the snapshots follow the same events


async def state_at_from_start(settings: Settings, at: float | None = None, until: dict[int, int] | None = None,
                              asset: str | None = None, progress=None) -> dict[str, dict]:
    """Asset states from the telemetry events with event time <= ``at`` and/or offset < ``until[partition]``
    (a partition's offset on the telemetry topic; a partition not named is read to its end), each
    with its mode as of then.

    Reads the log only (the live tables are not touched). Log order within a
    partition decides, as it does for the live projection.
    """
    topic, actions = settings.topic(events.TELEMETRY), settings.topic(events.OPERATOR_ACTIONS)
    stops = await end_offsets(settings, [topic])
    if until is not None:
        stops = {tp: min(end, until.get(tp.partition, end)) for tp, end in stops.items()}
    partitions = len(stops)
    stops.update(await end_offsets(settings, [actions]))
    if asset is not None:
        wanted = asset_partition(asset, partitions)
        stops = {tp: off for tp, off in stops.items() if tp.partition == wanted}
    states: dict[str, dict] = {}
    modes: dict[str, dict] = {}
    async for rec in read_until(settings, stops, progress):
        try:
            ev = events.decode_source(rec.key, rec.value, rec.timestamp_ms / 1000, _ACCEPT,
                                      settings.worker.max_clock_ahead)
        except events.DecodeFailure:
            continue
        if at is not None and ev.event_time > at:
            continue
        if asset is not None and ev.asset_id != asset:
            continue
        fold_one(states, modes, ev, rec.offset, settings.worker.dedup_horizon)
    return published(states, modes, asset)


def fold_one(states: dict, modes: dict, ev, offset: int, horizon: int) -> None:
    """One event into the asset states and modes, as the telemetry-state processor folds it
    (its ``asset_state`` and ``asset_mode`` tables, which the snapshots hold)."""
    if isinstance(ev, events.ModeChange):
        fold_mode(modes, ev, offset, horizon)
        return
    previous = states.get(ev.asset_id)
    if seen_before(previous, ev.event_id, offset):
        return  # a duplicate, skipped as the live projection skips it
    states[ev.asset_id] = apply_event(previous, ev, offset, horizon)


def published(states: dict, modes: dict, asset: str | None) -> dict[str, dict]:
    return {a: with_mode(values.public("asset_state", state), modes.get(a)) for a, state in states.items()
            if asset is None or a == asset}


@dataclass
class Reads:
    """What a bounded ``state_at`` read, for its progress and its report."""

    planned: int = 0  # an estimate, known before the first record (the stop is found while reading)
    read: int = 0
    partitions: dict[int, dict] = field(default_factory=dict)


async def state_at(settings: Settings, at: float | None = None, until: dict[int, int] | None = None,
                   asset: str | None = None, progress=None, reads: Reads | None = None,
                   full: bool = False) -> dict[str, dict]:
    """As ``state_at_from_start``, reading per partition from the newest snapshot at or before
    ``at`` (and short of ``until``) until the partition has carried an event the lateness bound
    younger than ``at``, plus the late events the snapshots' ledgers list (``full``: no snapshots)."""
    from factory_app.snapshots.bounded import DecodedRecord, plan, read_plan

    reads = reads if reads is not None else Reads()
    topic, actions = settings.topic(events.TELEMETRY), settings.topic(events.OPERATOR_ACTIONS)
    firsts, ends = await kafka_clients.log_bounds(settings.kafka, [topic, actions])
    partitions = sorted(tp.partition for tp in ends if tp.topic == topic)
    if asset is not None:
        wanted = asset_partition(asset, len([tp for tp in ends if tp.topic == topic]))
        partitions = [p for p in partitions if p == wanted]
    horizon = settings.worker.dedup_horizon
    states: dict[str, dict] = {}
    modes: dict[str, dict] = {}
    plans = [await plan(settings, p, ends, at, (until or {}).get(p), full, firsts) for p in partitions]
    reads.planned = sum(p.estimate for p in plans)
    async with kafka_clients.consumer_of(settings.kafka, max_partition_fetch_bytes=4 * 1024 * 1024) as consumer:
        for p in plans:
            states.update(p.tables.get("asset_state", {}))
            modes.update(p.tables.get("asset_mode", {}))
            tp = TopicPartition(topic, p.partition)
            done = 0
            async for rec in read_plan(settings, consumer, p, at):
                done += 1
                reads.read += 1
                if progress is not None and done % 2000 == 0:
                    progress(tp, done)
                if isinstance(rec, DecodedRecord):  # decoded by the read already (the same decode)
                    ev = rec.event
                else:
                    try:
                        ev = events.decode_source(rec.key, rec.value, rec.timestamp_ms / 1000, _ACCEPT,
                                                  settings.worker.max_clock_ahead)
                    except events.DecodeFailure:
                        ev = None
                if ev is None or (at is not None and ev.event_time > at):
                    continue
                fold_one(states, modes, ev, rec.offset, horizon)
            if progress is not None:
                progress(tp, done)
            reads.partitions[p.partition] = {
                "snapshot": None if p.point is None else {"telemetry": p.point.telemetry, "actions": p.point.actions,
                                                          "hwm": p.point.hwm},
                **{k: p.telemetry.read[k] + p.actions.read[k] for k in p.telemetry.read}, "read": done}
    return published(states, modes, asset)


def partition_stops(spec: list[str]) -> dict[int, int]:
    """``["0:120", "3:77"]`` -> {0: 120, 3: 77} (offsets exclusive)."""
    out = {}
    for item in spec:
        part, _, off = item.partition(":")
        out[int(part)] = int(off)
    return out
