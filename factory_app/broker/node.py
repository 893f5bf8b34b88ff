"""One KRaft node (broker + controller) run as a child ``java`` process on loopback.

A node may be one voter of a multi-node quorum (see ``cluster.py``); each node
then lists every voter and the replication settings of the whole cluster.
"""

from __future__ import annotations

import base64
import logging
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from factory_app.broker import security
from factory_app.broker.install import ensure_jars
from factory_app.broker.java import java_command, pid_from_file, private_argfile, terminate, write_log4j_config
from factory_app.broker.security import ADMIN, SecurityFiles
from factory_app.lifecycle import die_with_parent
from factory_app.settings import KafkaSettings

log = logging.getLogger(__name__)



class BrokerError(RuntimeError):
    """The local broker could not be started, reached or stopped."""


@dataclass(frozen=True)
class NodeConfig:
    """Where a node keeps its files and which loopback ports it listens on."""

    root: Path
    version: str
    port: int
    controller_port: int
    # Where fetched jars are cached (shared by every node of a version).
    jar_home: Path = Path(".factory")
    node_id: int = 1
    heap: str = "768m"
    # Log cleaner knobs; tests shrink them so compaction really runs.
    extra: tuple[tuple[str, str], ...] = ()
    # "id@host:port,..." of every controller; empty means this node alone.
    voters: str = ""
    # Nodes of one cluster must be formatted with the same id.
    cluster_id: str | None = None
    # Replicas of internal topics (offsets, transactions) and of topics created without one.
    replication: int = 1
    # Tests and benchmarks: the node is stopped by the kernel if the process that started it dies.
    # (``factory broker start`` leaves it False: the broker outlives the CLI on purpose.)
    die_with_parent: bool = False
    # A secured node (SASL_SSL only, ACLs enforced; broker/security.py) with a SCRAM user per
    # name in ``users`` besides the admin, created when its storage is formatted.
    secure: bool = False
    users: tuple[str, ...] = ()
    # One CA and one set of passwords for all nodes of a cluster (default: root/security).
    security_dir: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def pid_file(self) -> Path:
        return self.root / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "server.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def security_files(self) -> SecurityFiles:
        return SecurityFiles(self.security_dir or self.root / "security")

    def client(self, user: str = ADMIN) -> KafkaSettings:
        """How ``user`` reaches this node (plain settings for an unsecured node)."""
        if not self.secure:
            return KafkaSettings(bootstrap=self.bootstrap)
        return KafkaSettings(bootstrap=self.bootstrap, security_protocol="SASL_SSL",
                             ssl_cafile=self.security_files.ca_cert, sasl_mechanism="SCRAM-SHA-512",
                             sasl_username=user, sasl_password_file=self.security_files.password_file(user))


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now, and not handed out before by
    this process: the kernel may give the same ephemeral port to two binds in a row, and two
    PLCs of one test plant were once given one port (the second could not start)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free loopback port not handed out before")


def server_properties(cfg: NodeConfig) -> str:
    """The node's server.properties: KRaft broker + controller, everything on 127.0.0.1."""
    min_isr = str(min(2, cfg.replication))
    props = {
        "process.roles": "broker,controller",
        "node.id": str(cfg.node_id),
        "controller.quorum.voters": cfg.voters or f"{cfg.node_id}@127.0.0.1:{cfg.controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{cfg.port},CONTROLLER://127.0.0.1:{cfg.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{cfg.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(cfg.data_dir.resolve()),
        "num.partitions": "8",
        "offsets.topic.replication.factor": str(cfg.replication),
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": str(cfg.replication),
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": str(cfg.replication),
        "share.coordinator.state.topic.min.isr": min_isr,
        "default.replication.factor": str(cfg.replication),
        # acks=all then means "on at least two nodes" when there are several.
        "min.insync.replicas": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        # Kafka refuses session timeouts under 6 s by default; a control worker's death must be
        # noticed in about a second (docs/fault-tolerance.md, "Failover").
        "group.min.session.timeout.ms": "1000",
        # The project creates its topics with explicit configs; never by accident.
        "auto.create.topics.enable": "false",
    }
    if cfg.secure:
        props.update(security.server_properties(cfg.security_files, cfg.port, cfg.controller_port))
    props.update(dict(cfg.extra))
    return "".join(f"{k}={v}\n" for k, v in props.items())


def new_cluster_id() -> str:
    # Passed as --cluster-id=ID: an id may start with "-", which argparse would take for a flag.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class LocalBroker:
    """Start, stop and inspect one KRaft node whose files live under ``cfg.root``."""

    def __init__(self, cfg: NodeConfig):
        self.cfg = cfg
        self._proc: subprocess.Popen | None = None

    # -- files -------------------------------------------------------------
    def _write_configs(self) -> Path:
        self.cfg.root.mkdir(parents=True, exist_ok=True)
        if self.cfg.secure:
            security.prepare(self.cfg.security_files, list(self.cfg.users))
        props = self.cfg.root / "server.properties"
        # Secured, it holds the admin's SCRAM and the controller's PLAIN passwords: the owner's only.
        security.write_private(props, server_properties(self.cfg).encode())
        write_log4j_config(self.cfg.root / "log4j2.properties", self.cfg.log_file)
        return props

    def _java(self, libs: Path, main: str, *args: str) -> list[str]:
        return java_command(libs, main, *args, heap=self.cfg.heap, log4j_config=self.cfg.root / "log4j2.properties",
                            logs_dir=self.cfg.log_file.parent)

    def _format(self, libs: Path, props: Path) -> None:
        if (self.cfg.data_dir / "meta.properties").exists():
            return  # formatted before: reuse the log (it is the authority)
        args = ["kafka.tools.StorageTool", "format", f"--cluster-id={self.cfg.cluster_id or new_cluster_id()}",
                "-c", str(props), *(security.scram_format_args(self.cfg.security_files) if self.cfg.secure else ())]
        # The SCRAM passwords go in a file only the owner may read (java's @argfile), never on the
        # command line, where every local user sees them (/proc/PID/cmdline).
        with private_argfile(self.cfg.root / "format.args", args) as argfile:
            proc = subprocess.run(self._java(libs, f"@{argfile}"), capture_output=True, text=True)
        if proc.returncode != 0:
            output = proc.stdout + proc.stderr
            for user in (self.cfg.security_files.users() if self.cfg.secure else ()):
                output = output.replace(self.cfg.security_files.password(user), "<password>")
            raise BrokerError(f"formatting KRaft storage failed:\n{output}")

    # -- lifecycle ---------------------------------------------------------
    def pid(self) -> int | None:
        """PID of the running node, or None (a stale pid file is ignored)."""
        return pid_from_file(self.cfg.pid_file, b"kafka.Kafka")

    def start(self, timeout: float = 60.0) -> None:
        """Start the node (fetching jars and formatting storage if needed) and wait until it answers."""
        self.launch()
        try:
            self.wait_ready(timeout)
        except BrokerError:
            self.stop()
            raise

    def launch(self) -> None:
        """Start the node's process without waiting (a quorum member cannot answer alone)."""
        if self.pid() is not None:
            return
        libs = ensure_jars(self.cfg.jar_home, self.cfg.version)
        props = self._write_configs()
        self._format(libs, props)
        out = open(self.cfg.root / "logs" / "stdout.log", "ab")
        self._proc = subprocess.Popen(
            self._java(libs, "kafka.Kafka", str(props)),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI that started it...
            preexec_fn=die_with_parent() if self.cfg.die_with_parent else None,  # ...unless told otherwise
        )
        self.cfg.pid_file.write_text(str(self._proc.pid))

    def wait_ready(self, timeout: float, expect_nodes: int = 1) -> None:
        """Block until the node serves metadata listing ``expect_nodes`` live brokers."""
        from factory_app.kafka_clients import broker_ids  # aiokafka import kept off the CLI path

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerError(f"broker exited with {self._proc.returncode}; see {self.cfg.log_file}")
            try:
                # Probe the port first: aiokafka logs every refused connection loudly.
                with socket.create_connection(("127.0.0.1", self.cfg.port), timeout=1):
                    pass
                if len(broker_ids(self.cfg.client() if self.cfg.secure else self.cfg.bootstrap)) >= expect_nodes:
                    return
            except Exception as exc:  # not up yet
                last = exc
            time.sleep(0.3)
        raise BrokerError(f"broker at {self.cfg.bootstrap} not ready after {timeout}s ({last}); see {self.cfg.log_file}")

    def stop(self, timeout: float = 30.0, kill: bool = False) -> bool:
        """Stop the node cleanly (SIGTERM = controlled shutdown); SIGKILL if it hangs or ``kill``."""
        pid = self._proc.pid if self._proc is not None else self.pid()
        if pid is None:
            self.cfg.pid_file.unlink(missing_ok=True)  # left by a node that died
            return False
        terminate(pid, self._proc, "broker", timeout, kill)
        self.cfg.pid_file.unlink(missing_ok=True)
        self._proc = None
        return True

