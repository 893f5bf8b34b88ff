"""Helpers shared by the replay subcommands (table names, plant loading)."""

from __future__ import annotations

import click

from agents.registry import chosen
from factory_app.config import ConfigError, PlantConfig, load_plant
from factory_app.replay.projections import folds
from factory_app.settings import Settings


def plant_or_fail(settings: Settings) -> PlantConfig:
    try:
        return load_plant(settings.plant_config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def resolve_tables(settings: Settings, plant: PlantConfig, names: tuple[str, ...]) -> list[str]:
    """``all`` = every table of the worker's processors; otherwise the names, checked."""
    makers = folds(settings, plant)
    if not names or names == ("all",):
        return [t for p in chosen(settings) for t in makers[p.name]().tables]
    known = {t for make in makers.values() for t in make().tables}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.BadParameter(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return list(names)
