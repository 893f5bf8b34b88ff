"""``factory sample``: append synthetic telemetry (no plant needed)."""

from __future__ import annotations

import asyncio

import click

from factory_app.sample_telemetry import produce
from factory_app.settings import Settings


@click.command("sample")
@click.option("--assets", default=20, show_default=True)
@click.option("--rate", default=100.0, show_default=True, help="events per second")
@click.option("--duration", type=float, default=None, help="seconds (default: until stopped)")
@click.pass_obj
def command(settings: Settings, assets: int, rate: float, duration: float | None) -> None:
    """Produce sample telemetry for ASSETS assets at RATE events/s."""
    sent = asyncio.run(produce(settings, assets, rate, duration))
    click.echo(f"sent {sent} events")
