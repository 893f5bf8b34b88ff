"""``factory sim``: run the simulated plant (real OPC UA servers) from the plant file."""

from __future__ import annotations

import asyncio
import signal

import click

from factory_app.config import ConfigError, load_plant
from factory_app.settings import Settings


@click.command("sim")
@click.option("--config", "config_path", type=click.Path(), default=None, help="plant file (FACTORY_PLANT_CONFIG)")
@click.pass_obj
def command(settings: Settings, config_path: str | None) -> None:
    """Serve every asset of the plant file as a simulated PLC until stopped."""
    try:
        plant = load_plant(config_path or settings.plant_config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    asyncio.run(_serve(plant))


async def _serve(plant) -> None:
    import logging

    from factory_app.sim.server import SimPlant

    logging.getLogger("asyncua").setLevel(logging.WARNING)
    sim = SimPlant(plant)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sim.start()
    click.echo(f"simulated plant running: {len(plant.assets)} assets on {len(sim.endpoints)} endpoints", err=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()
