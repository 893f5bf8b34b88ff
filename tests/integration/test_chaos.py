"""Workers killed with SIGKILL at random moments while telemetry flows: state still equals the log's fold.

The short variant runs in CI (3 workers, 8 partitions, 100,000 events, >= 20 kills);
FACTORY_CHAOS_LONG=1 runs 1,000,000 events and >= 100 kills. The harness is
``bench/chaos.py`` (also a command: ``python -m bench.chaos``).
"""

from __future__ import annotations

import os

import pytest

from bench.chaos import run_chaos

pytestmark = pytest.mark.integration
LONG = os.environ.get("FACTORY_CHAOS_LONG") == "1"
N_EVENTS = 1_000_000 if LONG else 100_000
MIN_KILLS = 100 if LONG else 20


@pytest.mark.timeout(3600 if LONG else 900)
def test_random_worker_kills_lose_and_double_nothing(settings):
    report = run_chaos(settings, n_events=N_EVENTS, min_kills=MIN_KILLS, n_workers=3)
    print(report)
    assert report["events_in_log"] == report["events_acked"] == N_EVENTS
    assert report["events_in_state"] == N_EVENTS, "events missing from or doubled in state"
    assert report["n_state_keys_differing"] == 0, report["state_keys_differing"]
    assert report["n_window_keys_differing"] == 0, report["window_keys_differing"]
    assert report["kills"] >= MIN_KILLS
