"""A local KRaft cluster of one or more nodes on loopback, started and stopped together.

One node is the default (laptop, CI). Three nodes give replication factor 3 and
min.insync.replicas 2, so any one node can be killed without losing an
acknowledged (acks=all) append.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from factory_app.broker.node import BrokerError, LocalBroker, NodeConfig, new_cluster_id


def cluster_nodes(root: Path, version: str, ports: list[int], controller_ports: list[int], *,
                  jar_home: Path, extra: tuple[tuple[str, str], ...] = (), heap: str = "768m",
                  die_with_parent: bool = False, secure: bool = False, users: tuple[str, ...] = ()) -> list[NodeConfig]:
    """Configs of the nodes of one cluster; a single node keeps its files directly under ``root``."""
    if len(ports) != len(controller_ports) or not ports:
        raise ValueError("need one controller port per broker port")
    n = len(ports)
    voters = ",".join(f"{i + 1}@127.0.0.1:{cp}" for i, cp in enumerate(controller_ports))
    cluster_id = _stored_cluster_id(root, n) or new_cluster_id()
    return [
        NodeConfig(root=root if n == 1 else root / f"node-{i + 1}", version=version, port=port,
                   controller_port=cport, jar_home=jar_home, node_id=i + 1, heap=heap, extra=extra,
                   voters=voters, cluster_id=cluster_id, replication=min(3, n), die_with_parent=die_with_parent,
                   secure=secure, users=users, security_dir=root / "security")
        for i, (port, cport) in enumerate(zip(ports, controller_ports))
    ]


def _stored_cluster_id(root: Path, n: int) -> str | None:
    # Reuse the id of nodes formatted before, so a node wiped by hand rejoins its cluster.
    paths = [root / "data" / "meta.properties"] if n == 1 else sorted(root.glob("node-*/data/meta.properties"))
    for path in paths:
        if path.exists():
            for line in path.read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
    return None


class LocalCluster:
    """Start, stop, kill and inspect the nodes of a local cluster."""

    def __init__(self, nodes: list[NodeConfig]):
        self.nodes = {cfg.node_id: LocalBroker(cfg) for cfg in nodes}

    @property
    def bootstrap(self) -> str:
        return ",".join(b.cfg.bootstrap for b in self.nodes.values())

    @property
    def data_dirs(self) -> list[Path]:
        return [b.cfg.data_dir for b in self.nodes.values()]

    def start(self, timeout: float = 90.0) -> None:
        """Launch every node, then wait until each one sees all of them as live brokers."""
        for node in self.nodes.values():
            node.launch()
        try:
            self.wait_ready(timeout)
        except BrokerError:
            self.stop()
            raise

    def wait_ready(self, timeout: float, expect_nodes: int | None = None) -> None:
        deadline = time.monotonic() + timeout
        expect = expect_nodes or len(self.nodes)
        # Every node, not just those whose pid file already names a java process: right
        # after launch the child may not have exec'd yet (seen in CI: start returned at once).
        for node in self.nodes.values():
            node.wait_ready(max(1.0, deadline - time.monotonic()), expect_nodes=expect)

    def running(self) -> list[LocalBroker]:
        return [b for b in self.nodes.values() if b.pid() is not None]

    def pids(self) -> dict[int, int | None]:
        return {node_id: b.pid() for node_id, b in self.nodes.items()}

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop every node at once: stopped one by one, the last ones lose their quorum and
        cannot finish a controlled shutdown."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            return any(pool.map(lambda node: node.stop(timeout=timeout), list(self.nodes.values())))

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: no controlled shutdown, no flush, as in a power cut."""
        self.nodes[node_id].stop(kill=True)

    def restart(self, node_id: int, timeout: float = 90.0) -> None:
        node = self.nodes[node_id]
        node.launch()
        node.wait_ready(timeout, expect_nodes=len(self.nodes))
