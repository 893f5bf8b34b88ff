"""``factory broker start|stop|status``: the project's local Kafka (one node, or several on loopback).

FACTORY_BOOTSTRAP=127.0.0.1:19092 runs one node; listing three loopback addresses
(127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096) runs a 3-node KRaft quorum with
replication factor 3 and min.insync.replicas 2. Controller ports are the broker ports + 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from factory_app.broker.cluster import LocalCluster, cluster_nodes
from factory_app.broker.node import BrokerError
from factory_app.broker.install import BrokerInstallError
from factory_app.broker.settings import BrokerSettings
from factory_app.settings import Settings


def local_broker(settings: Settings, die_with_parent: bool = False, cluster: str | None = None) -> LocalCluster:
    """The local cluster described by ``settings`` (one node per address in FACTORY_BOOTSTRAP)
    and the development broker's own settings (version, jars, controller port).

    ``cluster``: a cluster named in the sites file instead (a site or ``central``): its
    bootstrap from there, its files under FACTORY_HOME/clusters/NAME."""
    dev = BrokerSettings()
    root = settings.home / "broker"
    if cluster is not None:
        settings, root = named_cluster(settings, cluster)
    ports = []
    for address in settings.kafka.hosts:
        host, _, port = address.rpartition(":")
        if host not in ("127.0.0.1", "localhost"):
            raise click.ClickException(
                f"FACTORY_BOOTSTRAP={settings.kafka.bootstrap} is an external cluster; the local broker tooling is not used")
        ports.append(int(port))
    controller_ports = ([dev.controller_port] if len(ports) == 1 and dev.controller_port
                        else [p + 1 for p in ports])
    from factory_app.acls import ROLES

    return LocalCluster(cluster_nodes(root, dev.kafka_version, ports, controller_ports,
                                      jar_home=dev.kafka_jars or settings.home, die_with_parent=die_with_parent,
                                      secure=dev.broker_secure, users=ROLES))


def named_cluster(settings: Settings, name: str) -> tuple[Settings, Path]:
    """Settings pointing at cluster ``name`` of the sites file, and its files' folder."""
    from factory_app.cli.common import DEFAULT_SITES_FILE
    from factory_app.config import ConfigError
    from factory_app.mirror.sites import load_sites

    try:
        sites = load_sites(os.environ.get("FACTORY_SITES", DEFAULT_SITES_FILE))
        bootstrap = sites.central.bootstrap if name == "central" else sites.site(name).bootstrap
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return settings.updated({"bootstrap": bootstrap}), settings.home / "clusters" / name


cluster_option = click.option("--cluster", default=None,
                              help="a cluster of the sites file (FACTORY_SITES): a site's name or 'central'")


@click.group("broker")
def command() -> None:
    """Run the local Apache Kafka broker (KRaft, loopback, data under FACTORY_HOME)."""


@command.command()
@cluster_option
@click.pass_obj
def start(settings: Settings, cluster: str | None) -> None:
    """Fetch the jars if needed, format storage once, start, and wait until it answers."""
    broker = local_broker(settings, cluster=cluster)
    try:
        broker.start()
    except (BrokerError, BrokerInstallError) as exc:
        raise click.ClickException(str(exc)) from exc
    pids = ", ".join(f"node {n}: pid {p}" for n, p in broker.pids().items())
    click.echo(f"Kafka {BrokerSettings().kafka_version} running at {broker.bootstrap} ({pids}), "
               f"data in {', '.join(map(str, broker.data_dirs))}")
    first = next(iter(broker.nodes.values())).cfg
    if first.secure:
        files = first.security_files
        click.echo(f"secured (SASL_SSL, SCRAM-SHA-512, ACLs enforced); users {', '.join(files.users())}; a client needs:\n"
                   f"  FACTORY_SECURITY_PROTOCOL=SASL_SSL FACTORY_SSL_CAFILE={files.ca_cert.resolve()}\n"
                   f"  FACTORY_SASL_USERNAME=ROLE FACTORY_SASL_PASSWORD_FILE={files.password_file('ROLE').resolve()}\n"
                   f"then, as admin: factory topics; factory acls apply")


@command.command()
@cluster_option
@click.pass_obj
def stop(settings: Settings, cluster: str | None) -> None:
    """Shut the broker(s) down cleanly (controlled shutdown)."""
    if local_broker(settings, cluster=cluster).stop():
        click.echo("broker stopped")
    else:
        click.echo("broker was not running")


@command.command()
@cluster_option
@click.pass_obj
def status(settings: Settings, cluster: str | None) -> None:
    """Say whether the broker runs and answers; exit 1 if not."""
    from factory_app.kafka_clients import broker_ids

    broker = local_broker(settings, cluster=cluster)
    pids = broker.pids()
    down = [n for n, pid in pids.items() if pid is None]
    if len(down) == len(pids):
        click.echo(f"broker not running (bootstrap {broker.bootstrap})")
        sys.exit(1)
    try:
        running = broker.running()
        ids = broker_ids(running[0].cfg.client().model_copy(
            update={"bootstrap": ",".join(b.cfg.bootstrap for b in running)}))
    except Exception as exc:  # running but not answering
        click.echo(f"broker pids {pids} not answering at {broker.bootstrap}: {exc}")
        sys.exit(1)
    click.echo(f"broker running: pids {pids}, bootstrap {broker.bootstrap}, live node ids {ids}")
    if down:
        click.echo(f"nodes not running: {down}")
        sys.exit(1)
