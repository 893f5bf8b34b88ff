"""``factory rewind``: move a consumer group's committed offsets (plan first, --execute to apply)."""

from __future__ import annotations

import asyncio

import click

from factory_app.cli.common import site_option
from factory_app.settings import Settings


@click.command("rewind")
@click.option("--group", default=None, help="consumer group (default: the worker group, FACTORY_APP_ID)")
@click.option("--topic", "topics", multiple=True, help="full topic name; repeatable (default: the group's inputs)")
@click.option("--to-earliest", "kind", flag_value="earliest")
@click.option("--to-latest", "kind", flag_value="latest")
@click.option("--to-offset", type=int, default=None, help="absolute offset on every chosen partition")
@click.option("--to-datetime", default=None, help="ISO-8601 time (UTC if no zone) or epoch seconds/ms")
@click.option("--shift-by", type=int, default=None, help="move by N (negative = back)")
@click.option("--execute", is_flag=True, help="apply the plan (without it nothing changes)")
@site_option
@click.pass_obj
def command(settings: Settings, group: str | None, topics: tuple[str, ...], kind: str | None,
            to_offset: int | None, to_datetime: str | None, shift_by: int | None, execute: bool) -> None:
    """Show (and with --execute, apply) a new committed offset per partition.

    Refuses to execute while the group has active members. Rewinding a Faust
    worker group re-applies events onto its tables: rebuild them too (factory rebuild).

    Examples:
      factory rewind --to-datetime 2026-11-26T08:00:00
      factory rewind --group factory-command-writer --to-latest --execute
    """
    from rich.console import Console
    from rich.table import Table

    from factory_app.replay.groups import GroupActive
    from factory_app.replay.rewind import Target, execute as do_execute, parse_time, plan

    chosen = [k for k in (kind, to_offset is not None and "offset", to_datetime and "time",
                          shift_by is not None and "shift") if k]
    if len(chosen) != 1:
        raise click.UsageError("choose exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
    target = {"earliest": Target("earliest"), "latest": Target("latest"), "offset": Target("offset", to_offset),
              "time": Target("time", parse_time(to_datetime) if to_datetime else None),
              "shift": Target("shift", shift_by)}[chosen[0]]
    group = group or settings.worker.app_id
    try:
        rows = asyncio.run(plan(settings, group, list(topics) or None, target))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    table = Table(title=f"rewind plan for group {group!r} to {target.describe()}")
    for col in ("topic", "partition", "current", "target", "earliest", "end", "lag after"):
        table.add_column(col, justify="right" if col != "topic" else "left")
    for r in rows:
        table.add_row(r.tp.topic, str(r.tp.partition), "-" if r.current is None else str(r.current), str(r.target),
                      str(r.earliest), str(r.end), str(r.lag_after))
    Console().print(table)
    if not execute:
        click.echo("dry run: nothing changed (add --execute to apply)")
        return
    try:
        asyncio.run(do_execute(settings, group, rows))
    except GroupActive as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"committed {len(rows)} offsets for group {group!r}")
