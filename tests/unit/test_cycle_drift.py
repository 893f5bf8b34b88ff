"""The cycle-drift rule: cycles counted only while running, one request per excursion, re-armed inside."""

from __future__ import annotations

import json

import pytest
import yaml

from factory_app import events
from factory_app.config import ConfigError, load_plant
from factory_app.rules.cycle_drift import CycleDriftRule, evaluate, observe
from harness.plant import REPO


def tel(tag, value, t, seq=0):
    return events.Telemetry(event_id=f"e{t}-{tag}", asset_id="press-1", event_time=t, tag=tag, value=value, seq=seq)


@pytest.fixture
def rule(tmp_path):
    model = tmp_path / "m.json"
    model.write_text(json.dumps({"kind": "cycle_drift", "window": 2, "location": 2.0, "variance": 0.01,
                                 "threshold_d2": 9.0}))
    return CycleDriftRule(kind="cycle_drift", name="d", asset="press-1", model=model)


def run(rule, readings):
    memory, out = None, []
    for ev in readings:
        intents, memory = evaluate(rule, {}, ev, memory)
        out += [(ev.event_time, i.target, i.value) for i in intents]
    return out, memory


def test_a_stop_is_not_a_slow_cycle():
    mem = {}
    _, mem = observe(mem, tel("cycle_counter", 1, 0.0), "cycle_counter", "state")
    _, mem = observe(mem, tel("state", "stopped", 1.0), "cycle_counter", "state")
    cycle, mem = observe(mem, tel("cycle_counter", 2, 60.0), "cycle_counter", "state")
    assert cycle is None  # the first count after the stop starts afresh
    cycle, _ = observe(mem, tel("cycle_counter", 3, 62.0), "cycle_counter", "state")
    assert cycle == 2.0


def test_one_request_per_excursion_and_rearmed_when_back_inside(rule):
    t, readings = 0.0, []
    for n, gap in enumerate([2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 2.0, 2.0, 2.0, 3.0, 3.0], start=1):
        t += gap
        readings.append(tel("cycle_counter", n, t))
    out, _ = run(rule, readings)
    # Window 2, sigma 0.1: a mean more than 0.3 s from 2 s is drift. The first slow cycle makes the
    # mean 2.5 (raised once while it lasts), two normal ones re-arm it, the next slow one raises again.
    assert out == [(readings[3].event_time, "maintenance_request", True),
                   (readings[9].event_time, "maintenance_request", True)]


def test_a_counter_reset_and_bad_readings_are_not_cycles(rule):
    out, mem = run(rule, [tel("cycle_counter", 100, 0.0), tel("cycle_counter", 1, 5.0),
                          events.Telemetry(event_id="b", asset_id="press-1", event_time=9.0, tag="cycle_counter",
                                           value=2, seq=1, quality="bad")])
    assert out == [] and mem["recent"] == []


def test_a_plant_file_naming_a_missing_model_is_refused(tmp_path):
    doc = yaml.safe_load((REPO / "config" / "plant.yaml").read_text())
    doc["rules"] = [{"kind": "cycle_drift", "name": "d", "asset": "press-1", "model": str(tmp_path / "none.json")}]
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="cannot load the cycle-drift model"):
        load_plant(path)
