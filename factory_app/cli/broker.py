"""``factory broker start|stop|status``: the project's local single-node Kafka."""

from __future__ import annotations

import sys

import click

from factory_app.broker.node import BrokerError, LocalBroker, NodeConfig
from factory_app.broker.install import BrokerInstallError
from factory_app.settings import Settings


def local_broker(settings: Settings) -> LocalBroker:
    """The local broker described by ``settings`` (its port comes from FACTORY_BOOTSTRAP)."""
    hosts = [h.strip() for h in settings.bootstrap.split(",")]
    host, _, port = hosts[0].rpartition(":")
    if len(hosts) != 1 or host not in ("127.0.0.1", "localhost"):
        raise click.ClickException(
            f"FACTORY_BOOTSTRAP={settings.bootstrap} is an external cluster; the local broker tooling is not used")
    return LocalBroker(NodeConfig(root=settings.home / "broker", version=settings.kafka_version,
                                  port=int(port), controller_port=settings.controller_port or int(port) + 1, jar_home=settings.kafka_jars or settings.home))


@click.group("broker")
def command() -> None:
    """Run the local Apache Kafka broker (KRaft, loopback, data under FACTORY_HOME)."""


@command.command()
@click.pass_obj
def start(settings: Settings) -> None:
    """Fetch the jars if needed, format storage once, start, and wait until it answers."""
    broker = local_broker(settings)
    try:
        broker.start()
    except (BrokerError, BrokerInstallError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Kafka {settings.kafka_version} running at {broker.cfg.bootstrap} (pid {broker.pid()}), "
               f"data in {broker.cfg.data_dir}")


@command.command()
@click.pass_obj
def stop(settings: Settings) -> None:
    """Shut the broker down cleanly (controlled shutdown)."""
    if local_broker(settings).stop():
        click.echo("broker stopped")
    else:
        click.echo("broker was not running")


@command.command()
@click.pass_obj
def status(settings: Settings) -> None:
    """Say whether the broker runs and answers; exit 1 if not."""
    from factory_app.kafka_admin import broker_ids

    broker = local_broker(settings)
    pid = broker.pid()
    if pid is None:
        click.echo(f"broker not running (bootstrap {broker.cfg.bootstrap})")
        sys.exit(1)
    try:
        ids = broker_ids(broker.cfg.bootstrap)
    except Exception as exc:  # running but not answering
        click.echo(f"broker pid {pid} not answering at {broker.cfg.bootstrap}: {exc}")
        sys.exit(1)
    click.echo(f"broker running: pid {pid}, bootstrap {broker.cfg.bootstrap}, node ids {ids}")
