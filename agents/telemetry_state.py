"""Telemetry -> asset state and tumbling-window aggregates; operator actions -> asset mode.

The step reads nothing but the event: no wall clock, so a rebuild from the log
produces the same tables. Live, the runtime (``agents.live``) folds it over each
partition's batch through write-behind views, so a key touched by many events of a
batch is written (and changelogged) once.
"""

from __future__ import annotations

from collections.abc import Sequence

import faust

from agents.runtime import LiveContext, Processor, ReplayStep, Tables, fold_atomically
from factory_app import events, metrics
from factory_app.settings import Settings
from factory_app.web_views import register_state_views
from tables import keys, windows
from tables.asset_mode import fold_mode
from tables.asset_state import already_applied, apply_event, seen_before
from tables.definitions import StateTables, state_tables

PROCESSOR = "telemetry-state"
_ACCEPT = (events.Telemetry, events.StateTransition, events.ModeChange)


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
    ikey = keys.index_key(event.asset_id, event.tag)
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
    wkey = keys.window_key(event.asset_id, event.tag, start)
    window = tables.tag_windows.get(wkey)
    if not already_applied(window, offset):
        tables.tag_windows[wkey] = windows.add_sample(window, value, start, window_size, offset)
    for old in evicted:
        okey = keys.window_key(event.asset_id, event.tag, old)
        if tables.tag_windows.get(okey) is not None:  # a redelivery may find it gone already
            del tables.tag_windows[okey]
    # The index changes only when a window opens or closes; written then, not per sample
    # (each window guards itself with its own offset).
    if index != index_entry["starts"] and not already_applied(index_entry, offset):
        tables.tag_windows[ikey] = windows.pack_index(index, offset)


def make_step(settings: Settings, processor: str = PROCESSOR) -> ReplayStep:
    """The processor's step: one event into ``asset_state`` and ``tag_windows`` (a mode change
    into ``asset_mode``); commands: none."""
    window, retention, horizon = settings.worker.window_seconds, settings.worker.window_retention, settings.worker.dedup_horizon

    def step(tables: Tables, event, offset: int) -> list:
        if isinstance(event, events.ModeChange):
            fold_mode(tables["asset_mode"], event, offset, horizon)
            return []
        apply_to_tables(StateTables(asset_state=tables["asset_state"], tag_windows=tables["tag_windows"]),
                        event, window, retention, processor, offset, horizon)
        return []
    return step


def fold_batch(tables, batch: Sequence[tuple[events.Telemetry | events.StateTransition, int]],
               settings: Settings, processor: str = PROCESSOR) -> None:
    """Fold (event, offset) pairs of one partition into ``tables`` (asset_state, tag_windows), all or nothing."""
    fold_atomically({"asset_state": tables.asset_state, "tag_windows": tables.tag_windows},
                    make_step(settings, processor), batch)


def _register(ctx: LiveContext) -> dict[str, faust.Table]:
    state = state_tables(ctx.app, ctx.settings)
    register_state_views(ctx.app, state)
    return state.all()


SPEC = Processor(PROCESSOR, (events.TELEMETRY, events.OPERATOR_ACTIONS), _ACCEPT, ("asset_state", "tag_windows", "asset_mode"),
                 _register,
                 lambda settings, plant, label: make_step(settings, label))
