"""``factory mirror``: MirrorMaker 2 pulling every site of the sites file into the central cluster."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import click

from factory_app.cli.common import DEFAULT_SITES_FILE
from factory_app.settings import Settings


def _load(sites_file: str):
    from factory_app.config import ConfigError
    from factory_app.mirror.sites import load_sites

    try:
        return load_sites(sites_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _mirror(settings: Settings, sites_file: str, supervised: bool = False):
    from factory_app.broker.settings import BrokerSettings
    from factory_app.mirror.process import MirrorMaker

    config = _load(sites_file)
    replication = config.central.kafka.replication
    # Under the supervisor, MirrorMaker dies with it (the supervisor is what keeps it running).
    return MirrorMaker(config, settings.home / "mirror", BrokerSettings().kafka_jars or settings.home,
                       replication=replication, die_with_parent=supervised)


sites_option = click.option("--sites", "sites_file", envvar="FACTORY_SITES", default=DEFAULT_SITES_FILE,
                            show_default=True, help="the sites file: sites, central cluster, topics")


@click.group("mirror")
def command() -> None:
    """Mirror each site's source topics to the central cluster (Apache Kafka MirrorMaker 2).

    Central topics are named SITE.TOPIC (e.g. plant-a.factory.telemetry); a central worker
    per site folds them: `factory worker --site plant-a`.
    """


@command.command("config")
@sites_option
@click.option("--secrets-dir", type=click.Path(path_type=Path), default=Path("secrets"), show_default=True,
              help="where that MirrorMaker finds each SASL cluster's password (a file named by the cluster's alias)")
def config_(sites_file: str, secrets_dir: Path) -> None:
    """Print MirrorMaker's mm2.properties for the sites file (for a MirrorMaker run elsewhere,
    e.g. Kafka's own image: connect-mirror-maker.sh mm2.properties --clusters central).
    No password is printed: they are read from --secrets-dir by Kafka's DirectoryConfigProvider."""
    from factory_app.mirror.mm2_config import mm2_properties

    config = _load(sites_file)
    click.echo(mm2_properties(config, replication=config.central.kafka.replication,
                              secrets_dir=secrets_dir), nl=False)


@command.command()
def install() -> None:
    """Fetch the MirrorMaker 2 jars (connect-mirror) with Maven, if missing."""
    from factory_app.broker.install import BrokerInstallError
    from factory_app.broker.settings import BrokerSettings
    from factory_app.mirror.process import ensure_mirror_jars
    from factory_app.mirror.versions import MIRROR_VERSION

    settings = Settings()
    try:
        libs = ensure_mirror_jars(BrokerSettings().kafka_jars or settings.home)
    except BrokerInstallError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"MirrorMaker 2 (connect-mirror {MIRROR_VERSION}) jars in {libs}")


@command.command()
@sites_option
@click.option("--metrics-port", type=int, default=9103, show_default=True, help="Prometheus metrics (0: none)")
@click.option("--stall-timeout", type=float, default=60.0, show_default=True,
              help="restart MirrorMaker when a site with records to mirror has not moved for this many seconds "
                   "since its tasks ran (doubled by each restart after which those sites did not move, up to 8 times)")
@click.option("--start-timeout", type=float, default=300.0, show_default=True,
              help="restart MirrorMaker when a site's tasks have not run this many seconds after its start")
@click.pass_obj
def run(settings: Settings, sites_file: str, metrics_port: int, stall_timeout: float, start_timeout: float) -> None:
    """Run MirrorMaker under a supervisor in the foreground (Ctrl-C stops both): restarted when
    it exits or a site's mirroring stalls; metrics per site (lag, last sync, reachable)."""
    from prometheus_client import start_http_server

    from factory_app.cli.common import until_signalled
    from factory_app.mirror.process import MirrorConfigError
    from factory_app.mirror.supervisor import supervise

    mirror = _mirror(settings, sites_file, supervised=True)
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1")
    pid_file = mirror.files.root / "supervisor.pid"
    mirror.files.root.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    try:
        asyncio.run(until_signalled(lambda stop: supervise(mirror, stop, stall_s=stall_timeout, start_s=start_timeout)))
    except MirrorConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        pid_file.unlink(missing_ok=True)


@command.command()
@sites_option
@click.option("--timeout", type=float, default=120.0, show_default=True, help="seconds to wait for MirrorMaker")
@click.pass_obj
def start(settings: Settings, sites_file: str, timeout: float) -> None:
    """Start `factory mirror run` in the background (it outlives this command; `factory mirror stop`)."""
    import subprocess

    from factory_app.children import wait_until

    mirror = _mirror(settings, sites_file)
    if _supervisor_pid(mirror) is None:
        mirror.files.root.mkdir(parents=True, exist_ok=True)
        out = open(mirror.files.root / "supervisor.log", "ab")
        subprocess.Popen([sys.executable, "-m", "factory_app", "mirror", "run", "--sites", sites_file],
                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: mirror.pid() is not None, timeout, what="MirrorMaker started")
    except TimeoutError as exc:
        raise click.ClickException(f"{exc}; see {mirror.files.root / 'supervisor.log'}") from exc
    sites = ", ".join(f"{s.name} ({s.bootstrap})" for s in mirror.config.sites)
    mode = "exactly-once" if mirror.config.mirror.exactly_once else "at-least-once"
    click.echo(f"mirror running (pid {mirror.pid()}, {mode}, supervised): {sites} -> central "
               f"({mirror.config.central.bootstrap}); log {mirror.files.log_file}")


@command.command()
@sites_option
@click.option("--kill", is_flag=True, help="SIGKILL MirrorMaker alone, as a crash (its supervisor restarts it)")
@click.pass_obj
def stop(settings: Settings, sites_file: str, kill: bool) -> None:
    """Stop the mirror and its supervisor (it resumes where it committed when started again)."""
    import signal

    from factory_app.children import wait_until

    mirror = _mirror(settings, sites_file)
    if kill:
        click.echo("MirrorMaker killed" if mirror.stop(kill=True) else "MirrorMaker was not running")
        return
    supervisor = _supervisor_pid(mirror)
    if supervisor is not None:
        os.kill(supervisor, signal.SIGTERM)
        wait_until(lambda: _supervisor_pid(mirror) is None, 60, what="the mirror supervisor to stop")
    stopped = mirror.stop()
    click.echo("mirror stopped" if supervisor is not None or stopped else "mirror was not running")


def _supervisor_pid(mirror) -> int | None:
    from factory_app.broker.java import pid_from_file

    return pid_from_file(mirror.files.root / "supervisor.pid", b"mirror", b"run")


@command.command()
@sites_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("--wait", is_flag=True, help="show progress until every site's records as of now are mirrored "
              "(exit 1 if a site is unreachable)")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="seconds --wait waits at most")
@click.pass_obj
def status(settings: Settings, sites_file: str, as_json: bool, wait: bool, timeout: float) -> None:
    """Per site: mirrored records against the site's end offsets, lag, last offset sync.
    Exit 1 when the mirror is not running or a site is unreachable."""
    from factory_app.mirror.status import mirror_status, render

    mirror = _mirror(settings, sites_file)
    statuses = asyncio.run(mirror_status(mirror.config))
    if wait:
        statuses = _wait_caught_up(mirror, statuses, timeout)
    pid = mirror.pid()
    if as_json:
        click.echo(json.dumps({"running": pid is not None, "pid": pid,
                               "sites": [s.as_dict() for s in statuses]}, indent=2))
    else:
        click.echo(f"mirror {'running, pid ' + str(pid) if pid else 'NOT running'}")
        click.echo(render(statuses))
    if pid is None or not all(s.reachable for s in statuses):
        sys.exit(1)


def _wait_caught_up(mirror, statuses, timeout: float):
    from rich.progress import Progress

    from factory_app.mirror.status import mirror_status, progress_to, targets_of

    deadline = time.monotonic() + timeout
    # The sites' end offsets when the wait began: a live site keeps appending, so "lag 0" may never come.
    targets = targets_of(statuses)
    cursors: dict = {}  # read each site's offset syncs once, then only the new ones each second
    with Progress(transient=True) as progress:
        tasks = {s.site: progress.add_task(f"{s.site}", total=None) for s in statuses}
        while True:
            targets = targets_of(statuses, targets)  # a site unreachable at first gets its target when it answers
            done = progress_to(statuses, targets)
            for s in statuses:
                mirrored, wanted = done[s.site]
                progress.update(tasks[s.site], total=wanted or None, completed=mirrored,
                                description=f"{s.site}: lag {s.lag if s.reachable else 'site unreachable'}")
            if all(s.reachable and done[s.site][0] >= done[s.site][1] for s in statuses) or time.monotonic() > deadline:
                return statuses
            time.sleep(1.0)
            statuses = asyncio.run(mirror_status(mirror.config, cursors=cursors))
