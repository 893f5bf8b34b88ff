"""A retroactive analytic: availability / OEE per machine, run live or backfilled over all history."""

from __future__ import annotations

import faust

from agents.runtime import LiveContext, Processor, ReplayStep
from factory_app import events
from factory_app.config import PlantConfig, Production
from factory_app.settings import Settings
from tables.asset_state import fold_per_asset
from tables.availability import apply_availability
from tables.definitions import projection_table

PROCESSOR = "availability"
_ACCEPT = (events.Telemetry, events.StateTransition)


def step(table, event, production: Production | None, offset: int | None = None, horizon: int = 0) -> None:
    """Fold one event into the availability table (mapping-like); shared with replays. Idempotent by offset,
    and with ``horizon`` > 0 by event id as the asset state is: a copy of an event seen among the asset's
    last ``horizon`` ones changes nothing (a mirror's re-sent records on a central cluster: a re-sent
    state transition would count its interval twice).

    ``production``: the event's asset's facts from the plant file (None: availability only)."""
    fold_per_asset(table, event, lambda previous: apply_availability(previous, event, production), offset, horizon)


def _register(ctx: LiveContext) -> dict[str, faust.Table]:
    return {"availability": projection_table(ctx.app, ctx.settings, "availability", ctx.settings.worker.batched_tables)}


def _step(settings: Settings, plant: PlantConfig | None, label: str) -> ReplayStep:
    facts = {a.id: a.production for a in plant.assets} if plant is not None else {}

    horizon = settings.worker.dedup_horizon

    def fold(tables, event, offset: int) -> list:
        step(tables["availability"], event, facts.get(event.asset_id), offset=offset, horizon=horizon)
        return []
    return fold


# A retroactive analytic: run by `factory backfill availability` or FACTORY_PROCESSORS, not by default.
SPEC = Processor(PROCESSOR, (events.TELEMETRY,), _ACCEPT, ("availability",), _register, _step, default=False,
                 uses_plant=True)
