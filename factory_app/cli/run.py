"""``factory run``: the local plant in one command, with a live view of state and commands."""

from __future__ import annotations

import asyncio
import time

import click

from factory_app.settings import Settings

ROLES = {"sim": ["sim"], "worker": ["worker"], "ingest": ["adapter", "ingest"], "writer": ["adapter", "commands"]}


@click.command("run")
@click.option("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
@click.option("--no-sim", is_flag=True, help="do not start the simulated plant (real PLCs in the plant file)")
@click.option("--keep-broker/--stop-broker", default=True, show_default=True,
              help="leave the local broker running afterwards (its log persists either way)")
@click.option("--plain", is_flag=True, help="print snapshots instead of a live screen (logs, CI)")
@click.pass_obj
def command(settings: Settings, duration: float | None, no_sim: bool, keep_broker: bool, plain: bool) -> None:
    """Start the local broker, the simulated PLCs, a worker and both adapters; show live state.

    Example: factory run --duration 60
    """
    from rich.console import Console, Group
    from rich.live import Live

    from factory_app.children import Child, wait_until
    from factory_app.cli.broker import local_broker
    from factory_app.config import ConfigError, load_plant
    from factory_app.render import commands_table, state_table
    from factory_app.state_client import fetch_json
    from factory_app.topics import create_source_topics

    try:
        load_plant(settings.plant_config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    console = Console()
    broker = local_broker(settings)
    console.print(f"starting Kafka {settings.kafka_version} at {broker.bootstrap} "
                  f"(data: {', '.join(map(str, broker.data_dirs))})")
    broker.start()
    asyncio.run(create_source_topics(settings))
    logs = settings.home / "logs"
    roles = [r for r in ROLES if not (no_sim and r == "sim")]
    children = [Child(role, ROLES[role], logs) for role in roles]
    base = f"http://{settings.web_host}:{settings.web_port}"

    def view():
        return Group(state_table(fetch_json(base, "/state/"), title=f"Asset state ({base}/state/)"),
                     commands_table(fetch_json(base, "/commands/recent/?n=12")))
    try:
        console.print(f"started {', '.join(roles)}; logs in {logs}; metrics at {base}/metrics")
        wait_until(lambda: all(c.alive() for c in children) and fetch_json(base, "/ready/")["ready"], 120,
                   what="the worker to be ready")
        begin = time.monotonic()
        live = None if plain else Live(console=console, refresh_per_second=2)
        if live:
            live.start()
        try:
            while duration is None or time.monotonic() - begin < duration:
                dead = [c.name for c in children if not c.alive()]
                if dead:
                    raise click.ClickException(f"{', '.join(dead)} exited; see {logs}")
                try:
                    renderable = view()
                except Exception as exc:  # a rebalance can briefly refuse reads
                    renderable = f"waiting for the worker: {exc}"
                if live:
                    live.update(renderable)
                else:
                    console.print(renderable)
                time.sleep(1.0 if live else 5.0)
        finally:
            if live:
                live.stop()
        console.print(view())
    except KeyboardInterrupt:
        pass
    finally:
        for child in reversed(children):
            child.stop()
        if not keep_broker:
            broker.stop()
    console.print("plant stopped" + ("" if not keep_broker else f"; broker still running at {broker.bootstrap}"))
