"""Brokers stopped, restarted and killed mid-run: no acknowledged append is lost.

Each test runs its own cluster (the session broker is shared and must stay up).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from factory_app import events
from factory_app.broker.cluster import LocalCluster, cluster_nodes
from factory_app.broker.node import free_port
from factory_app.children import wait_until
from factory_app.kafka_clients import partition_replicas
from factory_app.sample_telemetry import start_tracked_load
from harness import reference_fold as ref
from tests.conftest import JAR_HOME, isolated_settings, kafka_version
from harness.helpers import read_topic, start_worker, table_dump, wait_ready

pytestmark = pytest.mark.integration


def new_cluster(root, nodes: int) -> LocalCluster:
    return LocalCluster(cluster_nodes(root, kafka_version(), [free_port() for _ in range(nodes)],
                                      [free_port() for _ in range(nodes)], jar_home=JAR_HOME, heap="384m",
                                      die_with_parent=True))


def event_ids(records) -> list[str]:
    return [events.decode(r.value).event_id for recs in records.values() for r in recs]


@pytest.fixture
def cluster_factory(tmp_path):
    """Makes clusters under tmp_path and stops every node of them, whatever the outcome."""
    made: list[LocalCluster] = []

    def make(nodes: int) -> LocalCluster:
        cluster = new_cluster(tmp_path / f"kafka-{len(made)}", nodes)
        made.append(cluster)
        cluster.start(timeout=180)
        return cluster
    yield make
    for cluster in made:
        cluster.stop(timeout=20)


def test_single_broker_stopped_and_restarted_mid_run(tmp_path, cluster_factory, children):
    cluster = cluster_factory(1)
    settings = isolated_settings(cluster.bootstrap, tmp_path, processors=["telemetry-state"], window_seconds=100.0)
    worker = start_worker(settings)
    children.append(worker)
    wait_ready(settings)

    report, thread = start_tracked_load(settings, n_assets=50, rate=500, count=12_000)
    wait_until(lambda: len(report.acked) >= 3_000, 60, what="3,000 acknowledged appends")
    cluster.stop()  # controlled shutdown, then the broker is gone for a while
    time.sleep(6)
    cluster.start(timeout=120)
    thread.join(180)
    assert report.done.is_set()

    records = asyncio.run(read_topic(settings, events.TELEMETRY))
    logged = event_ids(records)
    assert not report.acked - set(logged), "acknowledged appends missing from the log"
    assert len(logged) == len(set(logged)), "the idempotent producer wrote an event twice"
    print(f"bounce: sent {report.sent}, acked {len(report.acked)}, failed {len(report.failed)}, logged {len(logged)}")

    # Processing resumes by itself: the same worker process, never restarted, catches up.
    def caught_up():
        n = sum(st["events"] for st in table_dump(settings, "asset_state").values() if st)
        return n == len(logged)
    wait_until(caught_up, 180, interval=1, what="the worker to absorb every logged event after the bounce")
    assert worker.alive()
    assert ref.projection_state(table_dump(settings, "asset_state")) == ref.fold_state(records)


@pytest.mark.long
def test_three_node_cluster_survives_killing_a_partition_leader(tmp_path, cluster_factory):
    cluster = cluster_factory(3)
    settings = isolated_settings(cluster.bootstrap, tmp_path)
    assert settings.kafka.replication == 3
    topic = settings.topic(events.TELEMETRY)
    replicas = asyncio.run(partition_replicas(cluster.bootstrap, topic))
    assert all(len(p["replicas"]) == 3 for p in replicas.values())

    report, thread = start_tracked_load(settings, n_assets=50, rate=1_000, count=20_000)
    wait_until(lambda: len(report.acked) >= 5_000, 60, what="5,000 acknowledged appends")
    leaders = Counter(p["leader"] for p in asyncio.run(partition_replicas(cluster.bootstrap, topic)).values())
    victim = leaders.most_common(1)[0][0]
    cluster.kill(victim)  # SIGKILL: no controlled shutdown, leadership moves by election
    acked_at_kill = len(report.acked)
    thread.join(180)
    assert report.done.is_set()
    assert len(report.acked) > acked_at_kill + 5_000, "appends did not continue on the surviving nodes"

    records = asyncio.run(read_topic(settings, events.TELEMETRY))
    logged = event_ids(records)
    assert not report.acked - set(logged), "acknowledged appends missing from the log"
    assert len(logged) == len(set(logged)), "the idempotent producer wrote an event twice"
    print(f"leader kill: node {victim} killed after {acked_at_kill} acks; sent {report.sent}, "
          f"acked {len(report.acked)}, failed {len(report.failed)}, logged {len(logged)}")
    after = asyncio.run(partition_replicas(cluster.bootstrap, topic))
    assert all(p["leader"] != victim for p in after.values())

    # The killed node comes back, catches up and rejoins every ISR.
    cluster.restart(victim)

    def all_in_sync():
        return all(len(p["isr"]) == 3 for p in asyncio.run(partition_replicas(cluster.bootstrap, topic)).values())
    wait_until(all_in_sync, 120, interval=1, what="the restarted node back in every ISR")
