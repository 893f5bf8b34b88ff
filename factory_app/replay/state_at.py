"""Time travel: the state of assets as it was at a past instant, folded from the log."""

from __future__ import annotations

from factory_app import events
from factory_app.kafka_clients import asset_partition
from factory_app.replay.log_reader import end_offsets, read_until
from factory_app.settings import Settings
from tables import values
from tables.asset_mode import fold_mode, with_mode
from tables.asset_state import apply_event, seen_before


async def state_at(settings: Settings, at: float | None = None, until: dict[int, int] | None = None,
                   asset: str | None = None, progress=None) -> dict[str, dict]:
    """Asset states from the telemetry events with event time <= ``at`` and/or offset < ``until[partition]``
    (a partition's offset on the telemetry topic), each with its mode as of then.

    Reads the log only (the live tables are not touched). Log order within a
    partition decides, as it does for the live projection.
    """
    topic, actions = settings.topic(events.TELEMETRY), settings.topic(events.OPERATOR_ACTIONS)
    stops = await end_offsets(settings, [topic])
    if until is not None:
        stops = {tp: min(end, until.get(tp.partition, end)) for tp, end in stops.items()}
    partitions = len(stops)
    stops.update({tp: end for tp, end in (await end_offsets(settings, [actions])).items()
                  if until is None or tp.partition in until})
    if asset is not None:
        wanted = asset_partition(asset, partitions)
        stops = {tp: off for tp, off in stops.items() if tp.partition == wanted}
    states: dict[str, dict] = {}
    modes: dict[str, dict] = {}
    async for rec in read_until(settings, stops, progress):
        try:
            ev = events.decode_source(rec.key, rec.value, rec.timestamp_ms / 1000,
                                      (events.Telemetry, events.StateTransition, events.ModeChange),
                                      settings.worker.max_clock_ahead)
        except events.DecodeFailure:
            continue
        if at is not None and ev.event_time > at:
            continue
        if asset is not None and ev.asset_id != asset:
            continue
        if isinstance(ev, events.ModeChange):
            fold_mode(modes, ev, rec.offset)
            continue
        previous = states.get(ev.asset_id)
        if seen_before(previous, ev.event_id, rec.offset):
            continue  # a duplicate, skipped as the live projection skips it
        states[ev.asset_id] = apply_event(previous, ev, rec.offset, settings.worker.dedup_horizon)
    return {asset: with_mode(values.public("asset_state", state), modes.get(asset)) for asset, state in states.items()}


def partition_stops(spec: list[str]) -> dict[int, int]:
    """``["0:120", "3:77"]`` -> {0: 120, 3: 77} (offsets exclusive)."""
    out = {}
    for item in spec:
        part, _, off = item.partition(":")
        out[int(part)] = int(off)
    return out
