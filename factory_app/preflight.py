"""What ``factory run`` checks before it starts anything: one run per home, free ports, a running Kafka.

Each failure is a ``click.ClickException`` that names what is in the way and what to do.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

import click

from factory_app.lifecycle import LockHeld, hold_pid_lock
from factory_app.settings import Settings


def hold_home_lock(home: Path):
    """Lock ``home`` for this ``factory run``; refuse, naming the holder, if another one runs there."""
    home.mkdir(parents=True, exist_ok=True)
    try:
        return hold_pid_lock(home / "run.lock")
    except LockHeld as held:
        raise click.ClickException(f"another `factory run` (pid {held.holder}) is running on {home}; stop it, "
                                   f"or give this one its own FACTORY_HOME") from None


def check_ports_free(settings: Settings, plant, with_sim: bool) -> None:
    """Refuse to start when a port the plant needs is taken, naming it and its setting."""
    wanted = [(settings.web.port, "worker web (FACTORY_WEB_PORT)"),
              (settings.web.ingest_metrics_port, "ingest metrics (FACTORY_INGEST_METRICS_PORT)"),
              (settings.web.writer_metrics_port, "writer metrics (FACTORY_WRITER_METRICS_PORT)"),
              (settings.web.ui_port, "plant view (FACTORY_UI_PORT)"),
              (settings.web.snapshots_metrics_port, "snapshot builder metrics (FACTORY_SNAPSHOTS_METRICS_PORT)")]
    if with_sim:
        wanted += [(urlparse(a.endpoint).port, f"simulated PLC {a.id} ({a.endpoint}, {settings.plant_config})")
                   for a in plant.assets if urlparse(a.endpoint).port]
    busy = []
    for port, what in dict((p, w) for p, w in wanted if p).items():
        with socket.socket() as sock:
            # As a server binds: a port left in TIME_WAIT by a stopped process is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{port} ({what})")
    if busy:
        raise click.ClickException(f"port(s) already in use: {'; '.join(busy)}. Stop what holds them "
                                   f"(`ss -ltnp` shows it) or change the setting")


def kafka_answers(settings: Settings) -> bool:
    """True when something already listens at the first bootstrap address (a broker started
    before, by `factory broker start` or another tool): it is used, not started again."""
    host, _, port = settings.kafka.hosts[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False
