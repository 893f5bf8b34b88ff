"""``factory command send|call``: an operator's command from the terminal, through the command writer."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import click

from factory_app.settings import Settings


@click.group("command")
def command() -> None:
    """Send an operator command: appended to the log under the operator's name, then checked and
    applied by the command writer exactly like a rule's (allow-list, limits, deadline, ledger)."""


_operator = click.option("--as", "operator", default="operator", show_default=True,
                         help="the operator sending it (an `operators:` entry of the plant file)")
_wait = click.option("--wait", type=float, default=15.0, show_default=True,
                     help="seconds to wait for the command's result (0: do not wait)")


@command.command("send")
@click.argument("asset")
@click.argument("target")
@click.argument("value")
@_operator
@_wait
@click.pass_obj
def send(settings: Settings, asset: str, target: str, value: str, operator: str, wait: float) -> None:
    """Write VALUE to the tag TARGET of ASSET. Example: factory command send oven-1 heater_power 30"""
    _run(settings, operator, asset, "write", target, value, (), wait)


@command.command("call")
@click.argument("asset")
@click.argument("method")
@click.argument("args", nargs=-1)
@_operator
@_wait
@click.pass_obj
def call(settings: Settings, asset: str, method: str, args: tuple[str, ...], operator: str, wait: float) -> None:
    """Call METHOD of ASSET with ARGS. Example: factory command call press-1 reset_fault"""
    _run(settings, operator, asset, "call", method, None, args, wait)


def _run(settings: Settings, operator: str, asset: str, action: str, target: str, value: str | None,
         args: tuple[str, ...], wait: float) -> None:
    from factory_app import events
    from factory_app.cli.common import plant_or_fail
    from factory_app.operator_commands import OperatorRefused, operator_command
    from factory_app.kafka_clients import consumer_of, partitions_of
    from factory_app.producer import append_once

    plant = plant_or_fail(settings)
    try:
        cmd = operator_command(plant, operator, asset, action, target, value, args, now=time.time())
    except OperatorRefused as exc:
        raise click.ClickException(str(exc)) from None

    async def go() -> events.CommandResult | None:
        async with AsyncExitStack() as stack:
            results = None
            if wait > 0:  # positioned at the results' end before appending: the result cannot be missed
                results = await stack.enter_async_context(consumer_of(settings.kafka))
                tps = await partitions_of(results, settings.topic(events.COMMAND_RESULTS))
                results.assign(tps)
                for tp, end in (await results.end_offsets(tps)).items():
                    results.seek(tp, end)
            await append_once(settings, events.COMMANDS, cmd)
            click.echo(f"sent {cmd.command_id}: {operator} {action}s {asset}.{target} "
                       f"{cmd.value if action == 'write' else list(cmd.args)}", err=True)
            deadline = time.monotonic() + wait
            while results is not None and time.monotonic() < deadline:
                for records in (await results.getmany(timeout_ms=500)).values():
                    for rec in records:
                        try:
                            got = events.decode(rec.value, (events.CommandResult,))
                        except events.DecodeFailure:
                            continue
                        if got.command_id == cmd.command_id and got.status != "conflict":
                            return got
            return None

    result = asyncio.run(go())
    if wait <= 0:
        return
    if result is None:
        raise click.ClickException(f"no result for {cmd.command_id} within {wait:.0f} s (is the command writer "
                                   f"running? `factory state` and the ledger will show it when it comes)")
    readback = f", read back {result.readback!r}" if result.readback is not None else ""
    click.echo(f"{result.status}{readback}{': ' + result.detail if result.detail else ''}")
    if result.status not in ("applied",):
        raise SystemExit(1)
