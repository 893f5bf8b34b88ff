"""``factory sim``: run the simulated plant (real OPC UA servers) from the plant file."""

from __future__ import annotations

import asyncio

import click

from factory_app.cli.common import plant_or_fail, until_signalled
from factory_app.settings import Settings


@click.command("sim")
@click.option("--config", "config_path", type=click.Path(), default=None, help="plant file (FACTORY_PLANT_CONFIG)")
@click.pass_obj
def command(settings: Settings, config_path: str | None) -> None:
    """Serve every asset of the plant file as a simulated PLC until stopped."""
    plant = plant_or_fail(settings, config_path)
    asyncio.run(until_signalled(lambda stop: _serve(plant, stop)))


async def _serve(plant, stop: asyncio.Event) -> None:
    import logging

    from factory_app.sim.server import SimPlant

    logging.getLogger("asyncua").setLevel(logging.WARNING)
    sim = SimPlant(plant)
    await sim.start()
    click.echo(f"simulated plant running: {len(plant.assets)} assets on {len(sim.endpoints)} endpoints", err=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()
