"""``factory mode ASSET auto|manual``: hand an asset to the operator, or back to the control rules."""

from __future__ import annotations

import asyncio
import time

import click

from factory_app.settings import Settings


@click.command("mode")
@click.argument("asset")
@click.argument("mode", type=click.Choice(["auto", "manual"]))
@click.option("--reason", default="", help="why (kept in the log with the operator's name)")
@click.option("--as", "operator", default="operator", show_default=True,
              help="the operator changing it (an `operators:` entry of the plant file with a target on ASSET)")
@click.pass_obj
def command(settings: Settings, asset: str, mode: str, reason: str, operator: str) -> None:
    """Append a mode change for ASSET to the log (the operator-actions topic). In manual, thermostat
    and auto-reset leave the asset alone and the writer refuses their commands; interlocks still
    act (they are the safety rules). Replays see the same change.

    Example: factory mode oven-2 manual --reason "heater maintenance" --as operator
    """
    from factory_app import events
    from factory_app.cli.common import plant_or_fail
    from factory_app.operator_commands import OperatorRefused, mode_change
    from factory_app.producer import append_once

    plant = plant_or_fail(settings)
    if plant.asset(asset) is None:
        raise click.ClickException(f"unknown asset {asset!r}; the plant file {settings.plant_config} has "
                                   f"{', '.join(a.id for a in plant.assets)}")
    try:
        event = mode_change(plant, operator, asset, mode, reason, now=time.time())
    except OperatorRefused as exc:
        raise click.ClickException(str(exc)) from None

    asyncio.run(append_once(settings, events.OPERATOR_ACTIONS, event))
    click.echo(f"{asset}: {mode} (event {event.event_id})")
