"""``factory adapter ingest|commands``: the OPC UA adapters."""

from __future__ import annotations

import asyncio
import logging

import click

from factory_app.cli.common import plant_or_fail, until_signalled
from factory_app.settings import Settings


def _serve_metrics(port: int, host: str) -> None:
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=host)


@click.group("adapter")
def command() -> None:
    """OPC UA adapters between the PLCs and the log."""
    logging.getLogger("asyncua").setLevel(logging.WARNING)


def _run(settings: Settings, config_path: str | None, metrics_port: int, make_runner) -> None:
    """Validate the plant file, create missing topics, serve metrics, run until SIGINT/SIGTERM."""
    from factory_app.topics import create_source_topics

    plant = plant_or_fail(settings, config_path)
    asyncio.run(create_source_topics(settings))
    _serve_metrics(metrics_port, settings.web.metrics_host)
    asyncio.run(until_signalled(make_runner(settings, plant).run))


config_option = click.option("--config", "config_path", type=click.Path(), default=None, help="plant file")


@command.command()
@config_option
@click.pass_obj
def ingest(settings: Settings, config_path: str | None) -> None:
    """Subscribe to every asset's tags and append Telemetry / StateTransition events."""
    from adapters.ingest import Ingest

    _run(settings, config_path, settings.web.ingest_metrics_port, Ingest)


@command.command()
@config_option
@click.pass_obj
def commands(settings: Settings, config_path: str | None) -> None:
    """Apply Command events to the PLCs (allow-list, limits, deadline, ledger) and append CommandResults."""
    from adapters.command_writer import CommandWriter

    _run(settings, config_path, settings.web.writer_metrics_port, CommandWriter)
