"""What several subcommands share: loading the plant file, running until a signal, naming tables."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Awaitable, Callable

import click

from factory_app.config import ConfigError, PlantConfig, load_plant
from factory_app.settings import Settings


def plant_or_fail(settings: Settings, path: str | Path | None = None) -> PlantConfig:
    """The plant file (``path`` or FACTORY_PLANT_CONFIG), or one clear line naming what is wrong in it."""
    try:
        return load_plant(path or settings.plant_config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


async def until_signalled(runner: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``runner(stop)``; SIGINT or SIGTERM sets ``stop`` so it can finish in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runner(stop)


def resolve_tables(settings: Settings, plant: PlantConfig, names: tuple[str, ...]) -> list[str]:
    """``all`` = every table of the worker's processors; otherwise the names, checked."""
    from agents.registry import chosen
    from factory_app.replay.projections import folds

    makers = folds(settings, plant)
    if not names or names == ("all",):
        return [t for p in chosen(settings) for t in makers[p.name]().tables]
    known = {t for make in makers.values() for t in make().tables}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.BadParameter(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return list(names)
