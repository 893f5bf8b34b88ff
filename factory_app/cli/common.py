"""What several subcommands share: loading the plant file, running until a signal, naming tables."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Awaitable, Callable

import click

from factory_app import stop_bound
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

    def stopping(sig: int) -> None:
        stop_bound.on_signal(sig)  # whatever the orderly stop waits on, the process ends in bounded time
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping, sig)
    try:
        await runner(stop)
    except BaseException as exc:
        stop_bound.arm(f"crashed: {type(exc).__name__}: {exc}"[:300], stop_bound.exit_code_for(None))
        raise
    stop_bound.arm("finished", stop_bound.exit_code_for(None))  # asyncio.run's cleanup, bounded too


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


# Where ``--site`` finds the sites file unless FACTORY_SITES names another.
DEFAULT_SITES_FILE = "config/sites.yaml"


def site_option(command: Callable) -> Callable:
    """``--site NAME`` (FACTORY_SITE): run the command on site NAME's mirror on the central
    cluster (factory_app/mirror/central.py), as it would run on the site itself."""
    import functools

    @functools.wraps(command)
    def wrapper(*args, site: str | None, sites_file: str, **kwargs):
        if site:
            from factory_app.mirror.central import central_settings
            from factory_app.mirror.sites import load_sites

            ctx = click.get_current_context()
            try:
                ctx.obj = central_settings(ctx.obj, load_sites(sites_file), site)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
        return command(*args, **kwargs)

    wrapper = click.option("--sites", "sites_file", envvar="FACTORY_SITES", default=DEFAULT_SITES_FILE,
                           show_default=True, help="the sites file --site reads")(wrapper)
    return click.option("--site", envvar="FACTORY_SITE", default=None,
                        help="act on this site's mirror on the central cluster (see `factory mirror`)")(wrapper)
