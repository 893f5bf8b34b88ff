"""Re-reading events after a crash (at-least-once) must not change any table."""

import random
from types import SimpleNamespace

from agents import availability, control
from agents.telemetry_state import apply_to_tables
from factory_app import events
from factory_app.config import load_plant
from tables.command_ledger import apply_command_event
from harness.plant import REPO


def telemetry_log(n=400, seed=1):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append((i, events.Telemetry(event_id=f"e{i}", asset_id=rng.choice(["oven-1", "press-1"]),
                                        event_time=1000 + i * 0.7, tag=rng.choice(["temperature", "state", "good_parts"]),
                                        value=rng.choice([float(i), "running", "faulted"]) if i % 3 else i)))
    return out


def fold_with_redelivery(log, apply, redeliver_every=37):
    """Apply the log; every so often, re-apply the last few events again (as after a crash)."""
    for pos, (offset, ev) in enumerate(log):
        apply(offset, ev)
        if pos and pos % redeliver_every == 0:
            for o, e in log[max(0, pos - 5):pos + 1]:
                apply(o, e)


def test_state_tables_ignore_redelivered_events():
    log = telemetry_log()
    once = SimpleNamespace(asset_state={}, tag_windows={})
    twice = SimpleNamespace(asset_state={}, tag_windows={})
    for offset, ev in log:
        apply_to_tables(once, ev, 10.0, 5, "t", offset)
    fold_with_redelivery(log, lambda o, e: apply_to_tables(twice, e, 10.0, 5, "t", o))
    assert once.asset_state == twice.asset_state and once.tag_windows == twice.tag_windows
    assert sum(s["events"] for s in once.asset_state.values()) == len(log)


def test_control_decides_once_per_event():
    by_asset = control.rules_by_asset(load_plant(REPO / "config" / "plant.yaml"))
    log = [(i, events.Telemetry(event_id=f"t{i}", asset_id="oven-1", event_time=float(i), tag="temperature",
                                value=float(150 + (i % 60)))) for i in range(300)]
    s1, m1, s2, m2 = {}, {}, {}, {}
    first = [c for o, e in log for c in control.step(by_asset, s1, m1, e, o)]
    second = []
    fold_with_redelivery(log, lambda o, e: second.extend(control.step(by_asset, s2, m2, e, o)))
    assert first and first == second and (s1, m1) == (s2, m2)


def test_ledger_counts_a_result_once():
    cmd = events.Command(event_id="c", command_id="c", asset_id="a", event_time=1, action="write", target="t",
                         value=1.0, cause_event_id="x", rule="r", deadline=2)
    res = events.CommandResult(event_id="c:result", asset_id="a", event_time=1.5, command_id="c", status="applied")
    entry = None
    for ev in (cmd, res, res, cmd):
        entry = apply_command_event(entry, ev)
    assert entry["results"] == 1 and entry["status"] == "applied"


def test_availability_ignores_redelivered_events():
    log = [(i, events.StateTransition(event_id=f"s{i}", asset_id="p", event_time=float(i * 10), kind="machine",
                                      to_state=["running", "faulted"][i % 2])) for i in range(50)]
    once, twice = {}, {}
    for o, e in log:
        availability.step(once, e, None, offset=o)
    fold_with_redelivery(log, lambda o, e: availability.step(twice, e, None, offset=o))
    assert once == twice and once["p"]["seconds_in"]["running"] == 250.0
