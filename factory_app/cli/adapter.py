"""``factory adapter ingest|commands``: the OPC UA adapters."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from factory_app.config import ConfigError, PlantConfig, load_plant
from factory_app.settings import Settings


def _plant(settings: Settings, path: str | None) -> PlantConfig:
    try:
        return load_plant(path or settings.plant_config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _serve_metrics(port: int, host: str) -> None:
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=host)


async def _until_signalled(runner) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runner(stop)


@click.group("adapter")
def command() -> None:
    """OPC UA adapters between the PLCs and the log."""
    logging.getLogger("asyncua").setLevel(logging.WARNING)


@command.command()
@click.option("--config", "config_path", type=click.Path(), default=None, help="plant file")
@click.pass_obj
def ingest(settings: Settings, config_path: str | None) -> None:
    """Subscribe to every asset's tags and append Telemetry / StateTransition events."""
    from adapters.ingest import Ingest
    from factory_app.topics import create_source_topics

    plant = _plant(settings, config_path)
    asyncio.run(create_source_topics(settings))
    _serve_metrics(settings.ingest_metrics_port, settings.metrics_host)
    asyncio.run(_until_signalled(Ingest(settings, plant).run))


@command.command()
@click.option("--config", "config_path", type=click.Path(), default=None, help="plant file")
@click.pass_obj
def commands(settings: Settings, config_path: str | None) -> None:
    """Apply Command events to the PLCs (allow-list, limits, deadline, ledger) and append CommandResults."""
    from adapters.command_writer import CommandWriter
    from factory_app.topics import create_source_topics

    plant = _plant(settings, config_path)
    asyncio.run(create_source_topics(settings))
    _serve_metrics(settings.writer_metrics_port, settings.metrics_host)
    asyncio.run(_until_signalled(CommandWriter(settings, plant).run))
