"""A retroactive analytic: availability / OEE per machine, run live or backfilled over all history."""

from __future__ import annotations

import faust

from agents.runtime import LiveContext, Processor, ReplayStep
from factory_app import events, metrics
from factory_app.config import PlantConfig
from factory_app.settings import Settings
from tables.asset_state import already_applied
from tables.availability import apply_availability
from tables.definitions import projection_table

PROCESSOR = "availability"
IDEAL_CYCLE_S = 2.0  # the press's design cycle time
_ACCEPT = (events.Telemetry, events.StateTransition)


def step(table, event, ideal_cycle_s: float = IDEAL_CYCLE_S, offset: int | None = None) -> None:
    """Fold one event into the availability table (mapping-like); shared with replays. Idempotent by offset."""
    previous = table.get(event.asset_id)
    if already_applied(previous, offset):
        return
    entry = apply_availability(previous, event, ideal_cycle_s)
    if entry is not None:
        table[event.asset_id] = entry if offset is None else {**entry, "offset": offset}


def register(app: faust.App, settings: Settings, telemetry: faust.TopicT, name: str = PROCESSOR) -> faust.Table:
    table = projection_table(app, settings, "availability")
    processed = metrics.EVENTS_PROCESSED.labels(name, "any")

    async def availability(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                decoded = events.decode_source(event.message.key, event.value, event.message.timestamp, _ACCEPT,
                                               settings.max_clock_ahead)
            except events.DecodeFailure:
                continue  # dead-lettered by the telemetry-state processor
            step(table, decoded, offset=event.message.offset)
            processed.inc()

    app.agent(telemetry, name=name, concurrency=1)(availability)
    return table


def _register(ctx: LiveContext) -> dict[str, faust.Table]:
    return {"availability": register(ctx.app, ctx.settings, ctx.topic(events.TELEMETRY))}


def _replay_step(settings: Settings, plant: PlantConfig | None) -> ReplayStep:
    def replay(tables, event, offset: int) -> list:
        step(tables["availability"], event, offset=offset)
        return []
    return replay


# A retroactive analytic: run by `factory backfill availability` or FACTORY_PROCESSORS, not by default.
SPEC = Processor(PROCESSOR, (events.TELEMETRY,), _ACCEPT, ("availability",), _register, _replay_step, default=False)
