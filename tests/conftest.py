"""Shared fixtures: one real KRaft broker per test session, isolated settings per test."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from factory_app.broker.node import BrokerError, LocalBroker, NodeConfig, free_port
from factory_app.broker.versions import DEFAULT_KAFKA_VERSION
from factory_app.children import Child, stop_together
from factory_app.settings import Settings
from factory_app.topics import create_source_topics
from harness.net_cut import CutRelay

REPO = Path(__file__).resolve().parents[1]
JAR_HOME = REPO / ".factory"

# Small cleaner intervals so tests see compaction within seconds.
TEST_BROKER_CONFIGS = (
    ("log.cleaner.backoff.ms", "500"),
    ("log.retention.check.interval.ms", "1000"),
    ("log.cleaner.min.compaction.lag.ms", "0"),
)


LONG_TESTS = os.environ.get("FACTORY_LONG_TESTS") == "1"


# The longest files (their --durations under load), handed out first: with two test processes
# and whole files each (--dist loadfile), a long file picked up last leaves the other process
# idle for its whole length; longest first keeps the two busy to the end.
LONGEST_FILES = (
    "test_edge_to_cloud.py", "test_broker_failures.py", "test_chaos.py", "test_replay.py", "test_whatif.py",
    "test_bounded_series.py", "test_faust_known_issues.py", "test_bounded_stops.py", "test_control_loop.py",
    "test_worker_cut_off.py", "test_kafka_security.py", "test_mirror_hanging.py", "test_snapshots.py",
)


def longest_first(item) -> int:
    name = item.path.name
    if item.path.parent.name != "integration" or name not in LONGEST_FILES:
        return len(LONGEST_FILES)
    return LONGEST_FILES.index(name)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``long`` (multi-node clusters, clean-virtualenv installs, the benchmark smoke run)
    run only with FACTORY_LONG_TESTS=1: the default suite stays under 20 minutes on a loaded machine."""
    items.sort(key=longest_first)  # stable: each file's tests keep their order
    if LONG_TESTS:
        return
    skip = pytest.mark.skip(reason="long scenario: run with FACTORY_LONG_TESTS=1")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


def kafka_version() -> str:
    return os.environ.get("FACTORY_KAFKA_VERSION", DEFAULT_KAFKA_VERSION)


def started_broker(root: Path, extra: tuple[tuple[str, str], ...] = (), **config) -> LocalBroker:
    """A real single-node KRaft broker on free loopback ports (the caller stops it), with the
    test configs and ``extra`` broker configs.

    A port found free can be taken by another process before the broker binds it, so a
    failed start is retried on fresh ports."""
    for attempt in range(3):
        broker = LocalBroker(NodeConfig(root=root / f"try-{attempt}", version=kafka_version(), port=free_port(),
                                        controller_port=free_port(), jar_home=JAR_HOME, extra=TEST_BROKER_CONFIGS + extra,
                                        die_with_parent=True, **config))
        try:
            broker.start(timeout=120)
            return broker
        except BrokerError:
            broker.stop(timeout=20)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    """The session's plain broker, stopped at the end of the session."""
    broker = started_broker(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker
    finally:
        broker.stop(timeout=20)


def isolated_settings(bootstrap: str, home: Path, **overrides) -> Settings:
    """Settings of a fresh deployment on ``bootstrap`` (own topics, group, ports), topics created."""
    tag = uuid.uuid4().hex[:8]
    s = Settings(bootstrap=bootstrap, home=home, topic_prefix=f"t{tag}.", app_id=f"factory-{tag}",
                 web_port=free_port(), partitions=8,
                 plant_config=REPO / "config" / "plant.yaml", **overrides)
    asyncio.run(create_source_topics(s))
    return s


@pytest.fixture
def settings(kafka, tmp_path) -> Settings:
    """Settings of a fresh, isolated deployment on the session broker."""
    return isolated_settings(kafka.cfg.bootstrap, tmp_path)


@pytest.fixture
def children():
    """Collects child processes and stops every one of them, whatever the test's outcome."""
    started: list[Child] = []
    yield started
    stop_together(started, timeout=15)


@pytest.fixture
def broker_behind_a_relay(tmp_path):
    """A broker with a second listener whose advertised address is a relay the test can cut:
    a client that bootstraps through the relay reaches the broker only through it."""
    port, cport, inner, relay_port = free_port(), free_port(), free_port(), free_port()
    extra = TEST_BROKER_CONFIGS + (
        ("listeners", f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport},CUT://127.0.0.1:{inner}"),
        ("advertised.listeners", f"PLAINTEXT://127.0.0.1:{port},CUT://127.0.0.1:{relay_port}"),
        ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,CUT:PLAINTEXT"),
    )
    broker = LocalBroker(NodeConfig(root=tmp_path / "kafka", version=kafka_version(), port=port,
                                    controller_port=cport, jar_home=JAR_HOME, extra=extra, die_with_parent=True))
    relay = CutRelay(relay_port, inner).start()
    try:
        broker.start(timeout=120)
        yield broker, relay
    finally:
        relay.close()
        broker.stop(timeout=20)


@pytest.fixture
def cpu_hog():
    """One busy-looping process beside the test (a machine slower than the test's own), stopped after."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield hog
    finally:
        hog.kill()
        hog.wait()
