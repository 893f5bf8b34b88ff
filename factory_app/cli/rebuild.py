"""``factory rebuild TABLE...|all``: recompute projections from the log and replace them."""

from __future__ import annotations

import asyncio

import click

from factory_app.cli.common import plant_or_fail, resolve_tables, site_option
from factory_app.settings import Settings


@click.command("rebuild")
@click.argument("tables", nargs=-1)
@click.option("--metrics-port", type=int, default=0, help="serve progress as Prometheus metrics on this port")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="fold in this many processes, each a share of the partitions")
@click.option("--from-snapshots", is_flag=True,
              help="start each partition from its newest verified snapshot (factory verify --snapshots), not offset 0")
@site_option
@click.pass_obj
def command(settings: Settings, tables: tuple[str, ...], metrics_port: int, processes: int,
            from_snapshots: bool) -> None:
    """Discard TABLES (local RocksDB files and changelog topic) and recompute them from the source topics.

    The fold stops at the worker group's committed offsets, so the rebuilt table
    matches exactly what the group has processed; workers must be stopped. The
    control rules run during the fold, but no command is sent anywhere.

    With --from-snapshots, each processor's fold of a partition starts from its newest snapshot
    that `factory verify --snapshots` found equal to the log (and that is unchanged since): a fast
    recovery. Without, the fold from offset 0, the reference.

    Examples: factory rebuild all; factory rebuild asset_state tag_windows; factory rebuild all --from-snapshots
    """
    from factory_app.replay.groups import GroupActive
    from factory_app.replay.rebuild import rebuild

    plant = plant_or_fail(settings)
    names = resolve_tables(settings, plant, tables)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=settings.web.metrics_host)
    if from_snapshots and processes > 1:
        raise click.UsageError("--from-snapshots folds only what follows the snapshots, in one process")
    try:
        reports, result = asyncio.run(rebuild(settings, plant, names, processes=processes,
                                              from_snapshots=from_snapshots))
    except GroupActive as exc:
        raise click.ClickException(str(exc)) from exc
    events_read = sum(result.stops.values())
    click.echo(f"rebuilt from {events_read} source offsets of group {settings.worker.app_id!r}:")
    if from_snapshots:
        for proc, points in sorted(result.started.items()):
            click.echo(f"  {proc}: {len(points)} partition(s) from verified snapshots "
                       f"({', '.join(f'{p}@{pt.telemetry}' for p, pt in sorted(points.items())) or 'none: offset 0'})")
        click.echo(f"  read {result.read} records after them")
    for r in reports:
        click.echo(f"  {r.table:22s} {r.keys:8d} keys  sha256 {r.digest}")
    click.echo(f"replay: {result.commands_computed} commands computed by the control rules, 0 emitted "
               f"(a rebuild never writes to the commands topic)")
