"""Telemetry -> asset state and tumbling-window aggregates.

One agent (concurrency 1, see faust-streaming #606) decodes each message once
and updates both tables. It reads nothing but the event: no wall clock, so a
rebuild from the log produces the same tables.

Events are folded in batches (up to ``settings.state_batch_max``, or what
arrived within BATCH_WITHIN_S), one partition at a time through write-behind views, so a key
touched by many events of a batch is written (and changelogged) once. Events
are acked only after their batch is written. A batch that fails is folded again
event by event: the poison event is dead-lettered, every other one applied once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from types import SimpleNamespace

import faust

from agents.dead_letters import DeadLetterSink
from agents.runtime import LiveContext, Processor, ReplayStep, Tables
from agents.isolation import fold_isolating
from factory_app import events, metrics
from factory_app.config import PlantConfig
from factory_app.settings import Settings
from factory_app.web_views import register_state_views
from tables import windows
from tables.asset_state import already_applied, apply_event, seen_before
from tables.batched import BatchedTable
from tables.definitions import StateTables, state_tables
from tables.write_behind import WriteBehind, acting_as

log = logging.getLogger(__name__)

PROCESSOR = "telemetry-state"
_ACCEPT = (events.Telemetry, events.StateTransition)
# The longest a quiet stream holds an event before folding it (state freshness, not control:
# the control agent reads the topic on its own, event by event).
BATCH_WITHIN_S = 0.02


def apply_to_tables(tables: StateTables, event: events.Telemetry | events.StateTransition,
                    window_size: float, retention: int, processor: str = PROCESSOR,
                    offset: int | None = None, horizon: int = 0) -> None:
    """Fold one decoded event into the tables (the agent's whole effect on state).

    Idempotent per key when ``offset`` is given: each key skips an event it has
    already absorbed (see ``already_applied``). With ``horizon`` > 0 an event whose
    id the asset saw before (within its last ``horizon`` events) changes nothing.
    """
    state = tables.asset_state.get(event.asset_id)
    if seen_before(state, event.event_id, offset):
        if not already_applied(state, offset):
            metrics.DUPLICATE_EVENTS.labels(processor).inc()
        return
    if not already_applied(state, offset):
        tables.asset_state[event.asset_id] = apply_event(state, event, offset, horizon)
    if not isinstance(event, events.Telemetry):
        return
    value = windows.numeric(event.value)
    if value is None:
        return
    ikey = windows.index_key(event.asset_id, event.tag)
    index_entry = windows.unpack_index(tables.tag_windows.get(ikey))
    start = windows.window_start(event.event_time, window_size)
    index, evicted, accepted = windows.retain(index_entry["starts"], start, retention)
    if not accepted:
        if not already_applied(index_entry, offset):
            metrics.LATE_SAMPLES.labels(processor).inc()
        return
    # Each key records the last offset it absorbed and is checked on its own: a crash can
    # lose any suffix of the changelog writes (batched or not), so no key may rely on
    # another key's write having survived.
    wkey = windows.window_key(event.asset_id, event.tag, start)
    window = tables.tag_windows.get(wkey)
    if not already_applied(window, offset):
        tables.tag_windows[wkey] = windows.add_sample(window, value, start, window_size, offset)
    for old in evicted:
        okey = windows.window_key(event.asset_id, event.tag, old)
        if tables.tag_windows.get(okey) is not None:  # a redelivery may find it gone already
            del tables.tag_windows[okey]
    # The index changes only when a window opens or closes; written then, not per sample
    # (each window guards itself with its own offset).
    if index != index_entry["starts"] and not already_applied(index_entry, offset):
        tables.tag_windows[ikey] = windows.pack_index(index, offset)


def fold_batch(tables, batch: Sequence[tuple[events.Telemetry | events.StateTransition, int]],
               settings: Settings, processor: str = PROCESSOR) -> None:
    """Fold (event, offset) pairs of one partition into ``tables``, all or nothing as far as values go.

    The batch goes through write-behind views; every pending value is serialized
    before the first write, so a value the store would refuse fails the batch
    with nothing written (``agents.isolation`` then retries it event by event).
    Live agents and replays (plain dicts) both fold through here.
    """
    view = StateTables(asset_state=WriteBehind(tables.asset_state), tag_windows=WriteBehind(tables.tag_windows))
    for event, offset in batch:
        apply_to_tables(view, event, settings.window_seconds, settings.window_retention, processor, offset,
                        settings.dedup_horizon)
    view.asset_state.validate()
    view.tag_windows.validate()
    view.asset_state.flush()
    view.tag_windows.flush()


def register(app: faust.App, settings: Settings, tables: StateTables,
             telemetry: faust.TopicT, dead_letter: faust.TopicT, name: str = PROCESSOR) -> faust.types.AgentT:
    """Declare the telemetry-state agent on ``app``."""
    sink = DeadLetterSink(dead_letter, name)
    processed = {cls: metrics.EVENTS_PROCESSED.labels(name, cls.__name__) for cls in _ACCEPT}

    async def fold_partition(batch: list) -> None:
        decoded: list[tuple] = []
        for event in batch:
            message = event.message
            try:
                decoded.append((events.decode_source(message.key, event.value, message.timestamp, _ACCEPT,
                                                     settings.max_clock_ahead), event))
            except events.DecodeFailure as failure:
                await sink.send(failure, message)
        # All of the batch's events share its partition; acting as one of them points every
        # table read and write at that partition's RocksDB and changelog partition (without a
        # current event, Faust searches every partition's RocksDB for each read).
        with acting_as(batch[-1]):
            failed = fold_isolating(
                lambda items: fold_batch(tables, [(d, e.message.offset) for d, e in items], settings, name),
                decoded)
        # Staged writes reach the producer before these events are acknowledged (see tables.batched).
        for table in tables.all().values():
            if isinstance(table, BatchedTable):
                await table.publish()
        poisoned = set()
        for (ev, event), exc in failed:  # nothing of these was written; everything else was, once
            log.error("processing failed for %s at %s[%d]@%d: %r", ev.event_id, event.message.topic,
                      event.message.partition, event.message.offset, exc)
            await sink.send(events.DecodeFailure("processing_error", repr(exc)), event.message)
            poisoned.add(id(event))
        for ev, event in decoded:
            if id(event) not in poisoned:
                processed[type(ev)].inc()
                metrics.EVENTS_IN.labels(event.message.topic, ev.asset_id).inc()

    async def telemetry_state(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(settings.state_batch_max, within=BATCH_WITHIN_S):
            by_partition: dict[int, list] = defaultdict(list)
            for event in batch:
                by_partition[event.message.partition].append(event)
            for part in by_partition.values():
                await fold_partition(part)

    return app.agent(telemetry, name=name, concurrency=1)(telemetry_state)


def _register(ctx: LiveContext) -> dict[str, faust.Table]:
    state = state_tables(ctx.app, ctx.settings)
    register(ctx.app, ctx.settings, state, ctx.topic(events.TELEMETRY), ctx.dead_letter)
    register_state_views(ctx.app, state)
    return state.all()


def _replay_step(settings: Settings, plant: PlantConfig | None) -> ReplayStep:
    def step(tables: Tables, event, offset: int) -> list:
        # The live agent's own batch fold, one event at a time: all or nothing, as when the
        # live agent isolates a poison event.
        view = SimpleNamespace(asset_state=tables["asset_state"], tag_windows=tables["tag_windows"])
        fold_batch(view, [(event, offset)], settings, "replay")
        return []
    return step


SPEC = Processor(PROCESSOR, (events.TELEMETRY,), _ACCEPT, ("asset_state", "tag_windows"), _register, _replay_step)
