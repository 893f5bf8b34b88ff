"""A worker cut off from the broker for 30 s while telemetry keeps arriving: it is dropped from its
group, comes back when the link heals, and its state equals an independent fold of the log."""

from __future__ import annotations

import asyncio
import threading

import pytest

from factory_app import events
from factory_app.broker.node import free_port
from factory_app.children import wait_until
from factory_app.sample_telemetry import start_tracked_load
from factory_app.settings import Settings
from factory_app.topics import create_source_topics
from harness import reference_fold as ref
from harness.helpers import get_json, read_topic, start_worker, worker_ready

pytestmark = pytest.mark.integration

CUT_S = 30.0


def test_a_worker_cut_off_for_30s_recovers_with_exact_state(broker_behind_a_relay, tmp_path):
    broker, relay = broker_behind_a_relay
    direct = Settings(bootstrap=broker.cfg.bootstrap, home=tmp_path, topic_prefix="cut.", app_id="cut",
                      partitions=8, web_port=free_port(), processors=["telemetry-state"], window_seconds=100.0)
    asyncio.run(create_source_topics(direct))
    worker_settings = direct.updated({"bootstrap": f"127.0.0.1:{relay.listen_port}"})
    worker = start_worker(worker_settings)
    try:
        wait_until(lambda: worker_ready(worker_settings), 180, what="the worker ready (through the relay)")
        report, producer = start_tracked_load(direct, 50, 200, 9_000)  # ~45 s of telemetry, straight to the broker

        def in_state() -> int:
            return sum(s["events"] for s in get_json(f"http://127.0.0.1:{worker_settings.web.port}/tables/asset_state/").values() if s)

        wait_until(lambda: in_state() > 1_000, 120, what="the worker folding telemetry before the cut")
        relay.cut()
        acked_at_cut = len(report.acked)
        # The fault lasts CUT_S: these waits are the scenario, not guesses at how long something takes.
        threading.Event().wait(5)  # what was fetched before the cut is folded by then
        folded_early = in_state()
        threading.Event().wait(CUT_S - 5)
        folded_late, during = in_state(), len(report.acked) - acked_at_cut
        relay.heal()
        assert during > 1_000, "the log kept taking telemetry while the worker was cut off"
        assert folded_late == folded_early, "the worker kept reading: the relay did not cut it off"

        producer.join()
        records = asyncio.run(read_topic(direct, events.TELEMETRY))
        logged = sum(len(r) for r in records.values())
        wait_until(lambda: worker_ready(worker_settings) and in_state() >= logged, 300, interval=1,
                   what=f"all {logged} events in the worker's state after the cut")
        assert worker.alive(), "the worker exited instead of riding through the cut"
        state = get_json(f"http://127.0.0.1:{worker_settings.web.port}/tables/asset_state/")
        want, got = ref.fold_state(records), ref.projection_state(state)
        assert got == want  # nothing lost, nothing counted twice
        assert relay.connections > 0
    finally:
        worker.stop(timeout=20)
