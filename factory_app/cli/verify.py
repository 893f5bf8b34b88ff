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
@click.option("--snapshots", is_flag=True,
              help="instead: fold the log up to each partition's newest snapshot and compare with it "
                   "(an equal one is marked verified: rebuild --from-snapshots starts from it)")
@site_option
@click.pass_obj
def command(settings: Settings, tables: tuple[str, ...], show: int, snapshots: bool) -> None:
    """Determinism check: fold the log again and compare digests with the live changelogs (exit 1 on any difference).

    Run it with the workers stopped (or idle): a running worker's changelog may be
    ahead of its committed offsets for a moment.

    Example: factory verify all
    """
    from factory_app.replay.groups import active_members
    from factory_app.replay.rebuild import verify

    plant = plant_or_fail(settings)
    if snapshots:
        sys.exit(_verify_snapshots(settings, plant, show))
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


def _verify_snapshots(settings: Settings, plant, show: int) -> int:
    from factory_app.snapshots.verify import verify_snapshots

    reports = asyncio.run(verify_snapshots(settings, plant))
    if not reports:
        click.echo(f"no snapshots to verify in {settings.snapshots_dir} (factory snapshots build writes them)", err=True)
        return 1
    bad = 0
    for r in reports:
        bad += not r.same
        click.echo(f"{'OK  ' if r.same else 'DIFF'} p{r.partition:<3} telemetry<{r.point.telemetry:<9} "
                   f"{r.processor}/{r.table:18s} {r.keys:7d} keys  snapshot {r.digest[:16]}  log {r.folded_digest[:16]}")
        for key, snap, folded in r.differences[:show]:
            click.echo(f"     {key}: snapshot={json.dumps(snap)[:120]} log={json.dumps(folded)[:120]}")
    if not bad:
        click.echo("every snapshot equals the log: marked verified (factory rebuild --from-snapshots starts from them)")
    return 1 if bad else 0
