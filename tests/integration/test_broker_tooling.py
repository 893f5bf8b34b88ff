"""``factory broker start|status|stop``: a real broker whose log survives restarts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from factory_app import events
from factory_app.broker.node import free_port
from factory_app.settings import Settings
from factory_app.topics import create_source_topics
from tests.conftest import JAR_HOME, kafka_version
from harness.helpers import produce_raw, read_topic

pytestmark = pytest.mark.integration


def factory(env, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", "factory_app", *args], env=env, capture_output=True, text=True,
                          timeout=180)
    if check and proc.returncode != 0:
        raise AssertionError(f"factory {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_start_status_stop_start_keeps_topics_and_data(tmp_path):
    port = free_port()
    env = {**os.environ, "FACTORY_HOME": str(tmp_path), "FACTORY_BOOTSTRAP": f"127.0.0.1:{port}",
           "FACTORY_CONTROLLER_PORT": str(free_port()),
           "FACTORY_KAFKA_VERSION": kafka_version(), "FACTORY_KAFKA_JARS": str(JAR_HOME)}
    settings = Settings(home=tmp_path, bootstrap=f"127.0.0.1:{port}")
    try:
        assert factory(env, "broker", "status", check=False).returncode == 1
        out = factory(env, "broker", "start").stdout
        assert f"127.0.0.1:{port}" in out
        assert "node ids [1]" in factory(env, "broker", "status").stdout
        assert "nothing" not in factory(env, "topics").stdout
        messages = [(b"a", events.encode(events.Telemetry(event_id=str(i), asset_id="a", event_time=i, tag="t",
                                                          value=i))) for i in range(100)]
        asyncio.run(produce_raw(settings, events.TELEMETRY, messages))

        assert "broker stopped" in factory(env, "broker", "stop").stdout
        assert factory(env, "broker", "status", check=False).returncode == 1

        factory(env, "broker", "start")
        assert asyncio.run(create_source_topics(settings)) == []  # topics still there
        records = asyncio.run(read_topic(settings, events.TELEMETRY))
        assert [r.value for recs in records.values() for r in recs] == [v for _, v in messages]
    finally:
        factory(env, "broker", "stop", check=False)
    assert not (tmp_path / "broker" / "broker.pid").exists()


def test_external_bootstrap_is_not_managed(tmp_path):
    env = {**os.environ, "FACTORY_HOME": str(tmp_path), "FACTORY_BOOTSTRAP": "kafka-1.plant:9092"}
    proc = factory(env, "broker", "start", check=False)
    assert proc.returncode != 0 and "external cluster" in proc.stderr


def free_port_pair() -> int:
    """A port p with p + 1 also free (the CLI puts a node's controller on its broker port + 1)."""
    import socket

    for _ in range(50):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port pair")


@pytest.mark.long
def test_three_loopback_addresses_run_a_three_node_quorum(tmp_path):
    from factory_app.kafka_clients import partition_replicas

    ports = [free_port_pair() for _ in range(3)]
    bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports)
    env = {**os.environ, "FACTORY_HOME": str(tmp_path), "FACTORY_BOOTSTRAP": bootstrap,
           "FACTORY_KAFKA_VERSION": kafka_version(), "FACTORY_KAFKA_JARS": str(JAR_HOME)}
    settings = Settings(home=tmp_path, bootstrap=bootstrap)
    try:
        factory(env, "broker", "start")
        assert "live node ids [1, 2, 3]" in factory(env, "broker", "status").stdout
        factory(env, "topics")
        replicas = asyncio.run(partition_replicas(bootstrap, settings.topic(events.TELEMETRY)))
        assert len(replicas) == 8 and all(len(p["isr"]) == 3 for p in replicas.values())
        pid = int((tmp_path / "broker" / "node-2" / "broker.pid").read_text())
        os.kill(pid, 9)
        status = factory(env, "broker", "status", check=False)
        assert status.returncode == 1 and "nodes not running: [2]" in status.stdout
    finally:
        factory(env, "broker", "stop", check=False)
    assert not list(tmp_path.glob("broker/node-*/broker.pid"))
