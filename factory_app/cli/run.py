"""``factory run``: the local plant in one command, with a live view of its state."""

from __future__ import annotations

import asyncio
import threading
import time

import click

from factory_app.settings import Settings


@click.command("run")
@click.option("--duration", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")
@click.option("--assets", default=12, show_default=True, help="sample assets")
@click.option("--rate", default=50.0, show_default=True, help="sample telemetry events/s")
@click.option("--keep-broker/--stop-broker", default=True, show_default=True,
              help="leave the local broker running afterwards (its log persists either way)")
@click.pass_obj
def command(settings: Settings, duration: float | None, assets: int, rate: float, keep_broker: bool) -> None:
    """Start the local broker, a worker and a telemetry source; show live state until stopped."""
    from rich.console import Console
    from rich.live import Live

    from factory_app.children import Child, wait_until
    from factory_app.cli.broker import local_broker
    from factory_app.render import state_table
    from factory_app.sample_telemetry import produce
    from factory_app.state_client import fetch_state
    from factory_app.topics import create_source_topics

    console = Console()
    broker = local_broker(settings)
    console.print(f"starting Kafka {settings.kafka_version} at {broker.cfg.bootstrap} ...")
    broker.start()
    asyncio.run(create_source_topics(settings))
    logs = settings.home / "logs"
    worker = Child("worker", ["worker"], logs)
    base = f"http://{settings.web_host}:{settings.web_port}"
    stop = threading.Event()
    source = threading.Thread(target=lambda: asyncio.run(_produce_until(settings, assets, rate, stop)), daemon=True)
    try:
        console.print(f"worker starting (log: {worker.log_path}); state at {base}/state/, metrics at {base}/metrics")
        wait_until(lambda: worker.alive() and fetch_state(base) is not None, 90, what="worker web view")
        source.start()
        begin = time.monotonic()
        with Live(console=console, refresh_per_second=2) as live:
            while duration is None or time.monotonic() - begin < duration:
                if not worker.alive():
                    raise click.ClickException(f"worker exited; see {worker.log_path}")
                try:
                    live.update(state_table(fetch_state(base), title=f"Asset state ({base})"))
                except Exception as exc:  # a rebalance can briefly refuse reads
                    live.update(f"waiting for worker: {exc}")
                time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if source.is_alive():
            source.join(10)
        worker.stop()
        if not keep_broker:
            broker.stop()
    console.print("stopped")


async def _produce_until(settings: Settings, assets: int, rate: float, stop: threading.Event) -> None:
    from factory_app.sample_telemetry import produce

    while not stop.is_set():
        await produce(settings, assets, rate, duration=1.0)
