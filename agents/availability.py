"""A retroactive analytic: availability / OEE per machine, run live or backfilled over all history."""

from __future__ import annotations

import faust

from agents.runtime import LiveContext, Processor, ReplayStep
from factory_app import events
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


def _register(ctx: LiveContext) -> dict[str, faust.Table]:
    return {"availability": projection_table(ctx.app, ctx.settings, "availability", ctx.settings.batched_tables)}


def _step(settings: Settings, plant: PlantConfig | None, label: str) -> ReplayStep:
    def fold(tables, event, offset: int) -> list:
        step(tables["availability"], event, offset=offset)
        return []
    return fold


# A retroactive analytic: run by `factory backfill availability` or FACTORY_PROCESSORS, not by default.
SPEC = Processor(PROCESSOR, (events.TELEMETRY,), _ACCEPT, ("availability",), _register, _step, default=False)
