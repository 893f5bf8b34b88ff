"""The processors, in one place: add a processor by declaring its ``SPEC`` and listing it here."""

from __future__ import annotations

from agents import availability, command_ledger, control, kpi_periods, shadow, telemetry_state
from agents.runtime import Processor
from factory_app.settings import Settings

PROCESSORS: dict[str, Processor] = {p.name: p for p in (
    telemetry_state.SPEC, control.SPEC, command_ledger.SPEC, availability.SPEC, kpi_periods.SPEC, shadow.SPEC)}


def chosen(settings: Settings) -> list[Processor]:
    """The processors a worker with ``settings`` runs: FACTORY_PROCESSORS, else the defaults.

    (A FACTORY_SHADOW_PLANT adds the shadow processor to the defaults.) Raises ValueError
    naming the known processors for an unknown name."""
    names = settings.worker.processors if settings.worker.processors is not None else [
        p.name for p in PROCESSORS.values() if p.default or (p is shadow.SPEC and settings.worker.shadow_plant)]
    unknown = [n for n in names if n not in PROCESSORS]
    if unknown:
        raise ValueError(f"unknown processor(s) {', '.join(sorted(unknown))}; known: {', '.join(PROCESSORS)}")
    return [PROCESSORS[n] for n in names]
