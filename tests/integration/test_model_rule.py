"""A model-driven rule trained from the log: ``factory train`` fits the press's cycle time on a span of
history and records what it was trained on; the rule, loaded from the plant file, raises one
maintenance request when the cycle time drifts; the replay (verify) and ``factory whatif`` decide
exactly as the live worker did."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time

import pytest
import yaml

from factory_app import events
from factory_app.children import wait_until
from harness.helpers import caught_up, produce_raw, read_topic, start_worker, wait_ready
from harness.plant import make_settings, only_assets

pytestmark = pytest.mark.integration

RULE = "press-1-cycle-drift"


def cycles(first_count: int, n: int, t0: float, cycle_s: float, seq0: int) -> list[events.Telemetry]:
    """The press's counter readings for ``n`` cycles of ``cycle_s`` (with a real press's jitter, seeded)."""
    rng = random.Random(seq0)
    out, t = [], t0
    for i in range(n):
        t += cycle_s + rng.gauss(0, 0.03)
        out.append(events.Telemetry(event_id=f"c{seq0 + i}", asset_id="press-1", event_time=t, tag="cycle_counter",
                                    value=first_count + i + 1, seq=seq0 + i))
    return out


def append(settings, evs) -> None:
    asyncio.run(produce_raw(settings, events.TELEMETRY, [(e.asset_id.encode(), events.encode(e)) for e in evs]))


def factory(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "factory_app", *args], capture_output=True, text=True,
                          env=settings.to_env() | {"PATH": "/usr/bin:/bin"}, timeout=300)


def commands(settings) -> list[events.Command]:
    recs = asyncio.run(read_topic(settings, events.COMMANDS))
    return [events.decode(r.value) for part in recs.values() for r in part]


def test_a_rule_trained_from_the_log_raises_one_request_live_and_replays_alike(kafka, tmp_path):
    (tmp_path / "home").mkdir()
    settings = make_settings(kafka.cfg.bootstrap, tmp_path / "home", only_assets("press-1"))
    t0 = time.time() - 3600
    running = events.Telemetry(event_id="s0", asset_id="press-1", event_time=t0, tag="state", value="running", seq=0)
    history = cycles(0, 150, t0, 2.0, 1)
    append(settings, [running, *history])

    model = tmp_path / "home" / "models" / "press-1-cycle.json"
    trained = factory(settings, "train", "cycle-drift", "--asset", "press-1", "--out", str(model),
                      "--to", str(history[-1].event_time + 1))
    assert trained.returncode == 0, trained.stderr
    doc = json.loads(model.read_text())
    assert doc["location"] == pytest.approx(2.0, abs=0.02) and doc["window"] == 5
    assert doc["trained_on"]["samples"] == 150 - 5 and doc["trained_on"]["last_offset"] == 150
    assert doc["params"]["seed"] == 7 and doc["code_version"]

    plant = yaml.safe_load(settings.plant_config.read_text())
    plant["rules"] = [{"kind": "cycle_drift", "name": RULE, "asset": "press-1", "model": str(model)}]
    settings.plant_config.write_text(yaml.safe_dump(plant, sort_keys=False))

    worker = start_worker(settings)
    try:
        wait_ready(settings, 180, worker)
        wait_until(lambda: caught_up(settings, ("telemetry",)), 120, what="the worker through the history")
        assert [c for c in commands(settings) if c.rule == RULE] == []  # the history it learnt is normal
        # The press slows down: 3 s cycles. One request, not one per cycle.
        slow = cycles(150, 30, history[-1].event_time, 3.0, 151)
        append(settings, slow)
        raised = wait_until(lambda: [c for c in commands(settings) if c.rule == RULE] or None, 60,
                            what="the maintenance request")
        wait_until(lambda: caught_up(settings, ("telemetry",)), 60, what="the worker through the slow cycles")
        raised = [c for c in commands(settings) if c.rule == RULE]
        assert [(c.asset_id, c.target, c.value) for c in raised] == [("press-1", "maintenance_request", True)]
        # The 5-cycle mean crosses the threshold within the window's worth of slow cycles.
        assert raised[0].cause_event_id in {e.event_id for e in slow[:5]}

        verify = factory(settings, "verify", "control_state", "control_rule_memory")
        assert verify.returncode == 0, verify.stdout + verify.stderr  # the rule's memory replays exactly
        whatif = factory(settings, "whatif", "--json", "--set", f"{RULE}.value=true")
        rep = json.loads(whatif.stdout)
        assert whatif.returncode == 0 and not rep["differs"]
        assert rep["drift"]["live"] == rep["drift"]["recomputed"] == 1  # live and replay: the same command

        # Retrained on another span (the slow weeks) it is another rule; what-if says what it would do.
        retrained = model.with_name("press-1-slow.json")
        again = factory(settings, "train", "cycle-drift", "--asset", "press-1", "--out", str(retrained),
                        "--from", str(slow[0].event_time))
        assert again.returncode == 0, again.stderr
        assert json.loads(retrained.read_text())["location"] == pytest.approx(3.0, abs=0.02)
        proposal = factory(settings, "whatif", "--json", "--set", f"{RULE}.model={retrained}")
        rep = json.loads(proposal.stdout)
        assert proposal.returncode == 1 and rep["removed"]["count"] == 1 and rep["added"]["count"] >= 1
        assert rep["added"]["first"][0]["time"] < history[10].event_time  # the 2 s history is drift to it
    finally:
        worker.stop(timeout=15)
