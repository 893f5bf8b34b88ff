"""``factory verify``: rebuild into scratch memory and compare every table with the live one."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from factory_app.cli.common import plant_or_fail, resolve_tables, site_option
from factory_app.settings import Settings


@click.command("verify")
@click.argument("tables", nargs=-1)
@click.option("--show", default=10, show_default=True, help="differing keys to print per table")
@site_option
@click.pass_obj
def command(settings: Settings, tables: tuple[str, ...], show: int) -> None:
    """Determinism check: fold the log again and compare digests with the live changelogs (exit 1 on any difference).

    Run it with the workers stopped (or idle): a running worker's changelog may be
    ahead of its committed offsets for a moment.

    Example: factory verify all
    """
    from factory_app.replay.groups import active_members
    from factory_app.replay.rebuild import verify

    plant = plant_or_fail(settings)
    names = resolve_tables(settings, plant, tables)
    members = asyncio.run(active_members(settings, settings.worker.app_id))
    if members:
        click.echo(f"warning: group {settings.worker.app_id!r} is running ({len(members)} members); "
                   f"differences may be transient", err=True)
    reports, result = asyncio.run(verify(settings, plant, names))
    bad = 0
    for r in reports:
        same = r.digest == r.live_digest
        bad += not same
        click.echo(f"{'OK  ' if same else 'DIFF'} {r.table:22s} {r.keys:8d} keys  rebuilt {r.digest[:16]}  "
                   f"live {r.live_digest[:16]}")
        for key, live, rebuilt in (r.differences or [])[:show]:
            click.echo(f"     {key}: live={json.dumps(live)[:120]} rebuilt={json.dumps(rebuilt)[:120]}")
    click.echo(f"replay: {result.commands_computed} commands computed, 0 emitted")
    sys.exit(1 if bad else 0)
