"""``factory backfill PROCESSOR``: run a new or changed processor over all history, beside the live one."""

from __future__ import annotations

import asyncio
import json
import time

import click

from factory_app.cli.common import site_option
from factory_app.settings import Settings


@click.command("backfill")
@click.argument("processor")
@click.option("--name", default=None, help="its consumer group and table prefix (default: APP_ID-PROCESSOR)")
@click.option("--web-port", type=int, default=None, help="HTTP port of the backfill worker (default: a free one)")
@click.option("--until-caught-up", is_flag=True, help="stop once it reached the end of the log at start")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="worker processes in the backfill's group (the partitions are shared out among them)")
@site_option
@click.pass_obj
def command(settings: Settings, processor: str, name: str | None, web_port: int | None, until_caught_up: bool,
            workers: int) -> None:
    """Start a worker running only PROCESSOR under its own group and tables, from the first offset.

    It shows progress until it has caught up with the log as it was at start, then
    keeps running live (Ctrl-C stops it) unless --until-caught-up. The live workers
    are not touched. Commands are never emitted by a backfill.

    Example: factory backfill availability
    """
    from agents.registry import PROCESSORS
    from factory_app.broker.node import free_port
    from factory_app.children import Child, stop_together
    from factory_app.replay.groups import committed_offsets
    from factory_app.kafka_clients import record_ends
    from factory_app.replay.progress import log_progress

    if processor not in PROCESSORS:
        raise click.BadParameter(f"unknown processor {processor!r}; known: {', '.join(PROCESSORS)}")
    group = name or f"{settings.worker.app_id}-{processor}"
    ports = [web_port or free_port()] + [free_port() for _ in range(workers - 1)]
    sources = [settings.topic(s) for s in PROCESSORS[processor].sources]
    stops = asyncio.run(record_ends(settings.kafka, sources))  # what the group commits once through
    # The child gets every setting this command runs with (with --site: the site's mirror on the
    # central cluster, its topics and folds) and no FACTORY_SITE, which would turn it into the live
    # central worker of that site (its group) again: its own group, tables and data directory.
    # Several workers are members of one group: Kafka shares the partitions out among them.
    env = {**settings.to_env(), "FACTORY_SITE": "", "FACTORY_APP_ID": group,
           "FACTORY_PROCESSORS": json.dumps([processor]), "FACTORY_EMIT_COMMANDS": "false"}
    running: list[Child] = []
    try:
        for i, port in enumerate(ports):
            label = f"backfill-{group}" + (f"-{i}" if i else "")
            running.append(Child(label, ["worker"], settings.home / "logs",
                                 env={**env, "FACTORY_WEB_PORT": str(port),
                                      "FACTORY_WORKER_DATA": str(settings.home / label)}))
        click.echo(f"backfill {processor!r} as group {group!r} (tables {group}-*), {workers} worker(s), web on "
                   f"127.0.0.1:{', '.join(map(str, ports))}; commands: not emitted; log "
                   f"{running[0].log_path}", err=True)
        with log_progress(stops, f"backfill {processor}") as advance:
            while True:
                for w in running:
                    if not w.alive():
                        raise click.ClickException(f"backfill worker exited; see {w.log_path}")
                done = asyncio.run(committed_offsets(settings, group))
                for tp, end in stops.items():
                    advance(tp, min(end, done.get(tp, 0)))
                if all(done.get(tp, 0) >= end for tp, end in stops.items()):
                    break
                time.sleep(1.0)
        click.echo(f"caught up with {sum(stops.values())} offsets in {len(stops)} partitions "
                   f"({workers} worker(s))", err=True)
        if until_caught_up:
            return
        click.echo("continuing live; Ctrl-C to stop", err=True)
        while all(w.alive() for w in running):
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        stop_together(running)
