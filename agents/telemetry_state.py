"""Telemetry -> asset state and tumbling-window aggregates.

One agent (concurrency 1, see faust-streaming #606) decodes each message once
and updates both tables. It reads nothing but the event: no wall clock, so a
rebuild from the log produces the same tables.
"""

from __future__ import annotations

import logging

import faust

from agents.dead_letters import DeadLetterSink
from factory_app import events, metrics
from factory_app.settings import Settings
from tables import windows
from tables.asset_state import already_applied, apply_event
from tables.definitions import StateTables

log = logging.getLogger(__name__)

PROCESSOR = "telemetry-state"
_ACCEPT = (events.Telemetry, events.StateTransition)


def apply_to_tables(tables: StateTables, event: events.Telemetry | events.StateTransition,
                    window_size: float, retention: int, processor: str = PROCESSOR,
                    offset: int | None = None) -> None:
    """Fold one decoded event into the tables (the agent's whole effect on state).

    Idempotent per table when ``offset`` is given: each table skips an event its
    key has already absorbed (see ``already_applied``).
    """
    state = tables.asset_state.get(event.asset_id)
    if not already_applied(state, offset):
        tables.asset_state[event.asset_id] = apply_event(state, event, offset)
    if not isinstance(event, events.Telemetry):
        return
    value = windows.numeric(event.value)
    if value is None:
        return
    ikey = windows.index_key(event.asset_id, event.tag)
    index_entry = windows.unpack_index(tables.tag_windows.get(ikey))
    if already_applied(index_entry, offset):
        return
    start = windows.window_start(event.event_time, window_size)
    index, evicted, accepted = windows.retain(index_entry["starts"], start, retention)
    if not accepted:
        metrics.LATE_SAMPLES.labels(processor).inc()
        return
    # Write order matters: the index (which records the offset) goes last, so if a crash
    # lost some changelog writes, a surviving index implies the earlier writes survived
    # too (one producer, one partition, in order).
    wkey = windows.window_key(event.asset_id, event.tag, start)
    tables.tag_windows[wkey] = windows.add_sample(tables.tag_windows.get(wkey), value, start, window_size)
    for old in evicted:
        del tables.tag_windows[windows.window_key(event.asset_id, event.tag, old)]
    tables.tag_windows[ikey] = windows.pack_index(index, offset)


def register(app: faust.App, settings: Settings, tables: StateTables,
             telemetry: faust.TopicT, dead_letter: faust.TopicT, name: str = PROCESSOR) -> faust.types.AgentT:
    """Declare the telemetry-state agent on ``app``."""
    sink = DeadLetterSink(dead_letter, name)
    processed = {cls: metrics.EVENTS_PROCESSED.labels(name, cls.__name__) for cls in _ACCEPT}

    async def telemetry_state(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            try:
                decoded = events.decode_keyed(message.key, event.value, _ACCEPT)
            except events.DecodeFailure as failure:
                await sink.send(failure, message)
                continue
            try:
                apply_to_tables(tables, decoded, settings.window_seconds, settings.window_retention, name,
                                message.offset)
            except Exception as exc:  # a bug must not lose the event nor kill the agent
                log.exception("processing failed for %s", decoded.event_id)
                await sink.send(events.DecodeFailure("processing_error", repr(exc)), message)
                continue
            processed[type(decoded)].inc()
            metrics.EVENTS_IN.labels(message.topic, decoded.asset_id).inc()

    return app.agent(telemetry, name=name, concurrency=1)(telemetry_state)
