"""``factory run``: the local plant in one command, with a live view of state and commands."""

from __future__ import annotations

import asyncio
import time

import click

from factory_app.lifecycle import on_termination
from factory_app.preflight import check_ports_free, hold_home_lock, kafka_answers
from factory_app.settings import Settings


def _interrupt(signum: int) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _no_dead(children) -> bool:
    """True while every child runs; a dead one ends ``factory run`` at once with its last log lines."""
    for child in children:
        if not child.alive():
            raise click.ClickException(f"{child.name} exited with code {child.proc.returncode}; the end of "
                             f"{child.log_path}:\n{child.last_lines()}")
    return True


def wait_ready(children, base: str, timeout: float) -> None:
    """Wait for the worker's /ready/, ending at once if a child dies meanwhile."""
    from factory_app.state_client import fetch_json

    deadline = time.monotonic() + timeout
    while True:
        _no_dead(children)
        try:
            if fetch_json(base, "/ready/")["ready"]:
                return
        except Exception:  # not serving yet
            pass
        if time.monotonic() > deadline:
            raise click.ClickException(f"the worker was not ready after {timeout:.0f} s; see {children[0].log_path.parent}")
        time.sleep(0.3)


ROLES = {"sim": ["sim"], "worker": ["worker"], "ingest": ["adapter", "ingest"], "writer": ["adapter", "commands"],
         "ui": ["ui"], "snapshots": ["snapshots", "build", "--follow"]}


@click.command("run")
@click.option("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
@click.option("--no-sim", is_flag=True, help="do not start the simulated plant (real PLCs in the plant file)")
@click.option("--keep-broker/--stop-broker", default=True, show_default=True,
              help="leave the local broker running afterwards (its log persists either way)")
@click.option("--plain", is_flag=True, help="print snapshots instead of a live screen (logs, CI)")
@click.pass_obj
def command(settings: Settings, duration: float | None, no_sim: bool, keep_broker: bool, plain: bool) -> None:
    """Start the local broker, the simulated PLCs, a worker, both adapters, the plant view and
    the snapshot builder (fast time travel); show live state.

    Example: factory run --duration 60
    """
    from rich.console import Console, Group
    from rich.live import Live

    from factory_app.children import Child
    from factory_app.broker.settings import BrokerSettings
    from factory_app.cli.broker import local_broker
    from factory_app.cli.common import plant_or_fail
    from factory_app.render import commands_table, state_table
    from factory_app.state_client import fetch_json
    from factory_app.topics import create_source_topics

    plant = plant_or_fail(settings)
    lock = hold_home_lock(settings.home)  # kept open (and locked) until this process ends
    check_ports_free(settings, plant, with_sim=not no_sim)
    # A kill or a closed terminal stops the plant like Ctrl-C does (the children would die
    # with this process anyway, by their parent-death signal; this stops them in order).
    on_termination(_interrupt)
    console = Console()
    broker = None
    if kafka_answers(settings):
        console.print(f"using the Kafka already running at {settings.kafka.bootstrap}")
    else:
        broker = local_broker(settings, die_with_parent=not keep_broker)
        console.print(f"starting Kafka {BrokerSettings().kafka_version} at {broker.bootstrap} "
                      f"(data: {', '.join(map(str, broker.data_dirs))})")
        broker.start()
    asyncio.run(create_source_topics(settings))
    logs = settings.home / "logs"
    roles = [r for r in ROLES if not (no_sim and r == "sim")]
    children = [Child(role, ROLES[role], logs) for role in roles]
    base = f"http://{settings.web.host}:{settings.web.port}"

    def view():
        return Group(state_table(fetch_json(base, "/state/"), title=f"Asset state ({base}/state/)"),
                     commands_table(fetch_json(base, "/commands/recent/?n=12")))
    try:
        console.print(f"started {', '.join(roles)}; logs in {logs}; metrics at {base}/metrics")
        console.print(f"plant view: http://{settings.web.ui_host}:{settings.web.ui_port}/ (operator token for "
                      f"sending commands: factory operator-token operator)")
        wait_ready(children, base, 120)
        begin = time.monotonic()
        live = None if plain else Live(console=console, refresh_per_second=2)
        if live:
            live.start()
        try:
            while duration is None or time.monotonic() - begin < duration:
                _no_dead(children)
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
        if broker is not None and not keep_broker:
            broker.stop()
        lock.close()
    console.print("plant stopped" + ("; broker still running at " + settings.kafka.bootstrap
                                     if broker is None or keep_broker else ""))
