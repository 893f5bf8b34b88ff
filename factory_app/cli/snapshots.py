"""``factory snapshots``: build, follow and list the folds' snapshots (factory_app/snapshots)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import click

from factory_app.cli.common import site_option
from factory_app.settings import Settings

log = logging.getLogger("factory.snapshots")


@click.group("snapshots")
def command() -> None:
    """Snapshots of the folds per partition, so time travel reads the span asked for, not the whole log."""


@command.command("build")
@click.option("--follow", is_flag=True, help="keep folding as the log grows (a process beside the workers)")
@click.option("--poll", default=2.0, show_default=True, help="with --follow: seconds between rounds")
@click.option("--from-retained", is_flag=True,
              help="a log whose beginning retention removed: fold what it retains (not the plant's whole history)")
@site_option
@click.pass_obj
def build(settings: Settings, follow: bool, poll: float, from_retained: bool) -> None:
    """Fold the log forward from each partition's newest snapshot and write a point every
    FACTORY_SNAPSHOT_EVERY_EVENTS records or FACTORY_SNAPSHOT_EVERY_SECONDS of event time."""
    from factory_app.cli.common import plant_or_fail
    from factory_app.replay.progress import log_progress
    from factory_app.snapshots.build import RetentionGap, SnapshotBuilder

    async def main() -> None:
        builder = SnapshotBuilder(settings, plant_or_fail(settings), from_retained)
        if not follow:
            started = time.monotonic()
            with log_progress(await builder.remaining(), "snapshots") as advance:
                try:
                    written = await builder.run_once(advance)
                except RetentionGap as exc:
                    raise click.ClickException(str(exc)) from None
            click.echo(f"{written} point(s) written in {time.monotonic() - started:.1f} s "
                       f"({builder.store.size_bytes() / 1e6:.1f} MB in {builder.store.root})", err=True)
            return
        if settings.worker.snapshot_nice:
            lower_priority(settings.worker.snapshot_nice)
        if settings.web.snapshots_metrics_port:
            from prometheus_client import start_http_server

            start_http_server(settings.web.snapshots_metrics_port, addr=settings.web.metrics_host)
        log.info("folding snapshots into %s every %d records or %.0f s of event time", builder.store.root,
                 settings.worker.snapshot_every_events, settings.worker.snapshot_every_seconds)
        while True:
            try:
                written = await builder.run_once()
            except RetentionGap as exc:  # needs a person; said every round, the plant goes on
                log.error("%s", exc)
                written = 0
            except Exception:  # a broker away for a while: derived data, so try again, never end the plant
                log.exception("snapshot round failed; retrying in %.0f s", poll)
                written = 0
            if written:
                log.info("%d point(s) written", written)
            await asyncio.sleep(poll)

    asyncio.run(main())


def lower_priority(nice: int) -> None:
    """Derived data: the live path comes first. With the kernel's autogroups (a process in its
    own session, as ``factory run`` starts its children) a task's nice value only ranks it
    inside its group, so the group's nice is lowered too."""
    os.nice(nice)
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:
        pass  # no autogroups (or not allowed): the task's own nice value is all there is


@command.command("list")
@click.option("--json", "as_json", is_flag=True)
@site_option
@click.pass_obj
def list_points(settings: Settings, as_json: bool) -> None:
    """Every partition's points: offsets, the event time they reach, and the processors they hold."""
    from factory_app.snapshots.inventory import inventory

    rows = inventory(settings)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"p{row['partition']:<3} telemetry<{row['telemetry']:<10} actions<{row['actions']:<6} "
                   f"up to {row['hwm_iso'] or '-':<24} {', '.join(row['processors'])}")
    if not rows:
        click.echo(f"no snapshots in {settings.snapshots_dir}", err=True)
