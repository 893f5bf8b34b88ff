"""OEE per asset in event-time periods (hours by default): run by the central workers, and on a
site by FACTORY_PROCESSORS or ``factory backfill kpi-periods``."""

from __future__ import annotations

import faust

from agents.runtime import LiveContext, Processor, ReplayStep
from factory_app import events
from factory_app.config import PlantConfig, Production
from factory_app.settings import Settings
from tables.asset_state import fold_per_asset
from tables.definitions import projection_table
from tables.kpi_periods import apply_kpi_periods

PROCESSOR = "kpi-periods"
_ACCEPT = (events.Telemetry, events.StateTransition)


def step(table, event, production: Production | None, size: float, keep: int,
         offset: int | None = None, horizon: int = 0) -> None:
    """Fold one event into the ``kpi_periods`` table (mapping-like); shared with replays.
    Idempotent by offset, and by event id within the asset's last ``horizon`` events (a
    mirror's re-sent run would otherwise count its time twice)."""
    fold_per_asset(table, event, lambda previous: apply_kpi_periods(previous, event, production, size, keep),
                   offset, horizon)


def _register(ctx: LiveContext) -> dict[str, faust.Table]:
    return {"kpi_periods": projection_table(ctx.app, ctx.settings, "kpi_periods", ctx.settings.worker.batched_tables)}


def _step(settings: Settings, plant: PlantConfig | None, label: str) -> ReplayStep:
    facts = {a.id: a.production for a in plant.assets} if plant is not None else {}
    w = settings.worker
    size, keep, horizon = w.kpi_period_seconds, w.kpi_periods, w.dedup_horizon

    def fold(tables, event, offset: int) -> list:
        step(tables["kpi_periods"], event, facts.get(event.asset_id), size, keep, offset=offset, horizon=horizon)
        return []
    return fold


SPEC = Processor(PROCESSOR, (events.TELEMETRY,), _ACCEPT, ("kpi_periods",), _register, _step, default=False,
                 uses_plant=True)
