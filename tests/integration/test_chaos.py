"""Workers killed with SIGKILL at random moments while telemetry flows, one of them cut off from the
broker long enough to be dropped from the group, beside a CPU hog: no worker ends on its own, and
state still equals the log's fold.

The short variant runs in CI (3 workers, 8 partitions, 100,000 events, >= 20 kills, a 20-s cut);
FACTORY_CHAOS_LONG=1 runs 1,000,000 events and >= 100 kills. The harness is
``bench/chaos.py`` (also a command: ``python -m bench.chaos``).
"""

from __future__ import annotations

import os

import pytest

from bench.chaos import run_chaos
from tests.conftest import isolated_settings

pytestmark = pytest.mark.integration
LONG = os.environ.get("FACTORY_CHAOS_LONG") == "1"
N_EVENTS = 1_000_000 if LONG else 100_000
MIN_KILLS = 100 if LONG else 20
CUT_S = 20.0  # twice the session timeout: the coordinator drops the worker, it rejoins when healed


@pytest.mark.timeout(3600 if LONG else 900)
def test_random_worker_kills_and_a_cut_lose_double_and_crash_nothing(broker_behind_a_relay, cpu_hog, tmp_path):
    broker, relay = broker_behind_a_relay
    settings = isolated_settings(broker.cfg.bootstrap, tmp_path)
    report = run_chaos(settings, n_events=N_EVENTS, min_kills=MIN_KILLS, n_workers=3, relay=relay, cut_s=CUT_S)
    print(report)
    assert report["unexpected_exits"] == [], "a worker the chaos did not kill ended on its own"
    assert report["cut_s"] == CUT_S and relay.connections > 0
    assert report["events_in_log"] == report["events_acked"] == N_EVENTS
    assert report["events_in_state"] == N_EVENTS, "events missing from or doubled in state"
    assert report["n_state_keys_differing"] == 0, report["state_keys_differing"]
    assert report["n_window_keys_differing"] == 0, report["window_keys_differing"]
    assert report["kills"] >= MIN_KILLS
