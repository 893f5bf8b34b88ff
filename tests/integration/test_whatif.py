"""``factory whatif`` on a recorded plant run: it finds exactly the differences a deliberate rule change
causes, none when nothing changed, and the drift between the rules that ran live and a changed plant file.
The run has a shadow rule set beside the active one (FACTORY_SHADOW_PLANT): its commands never reach the
writer, and its running comparison (``whatif --live``, metrics) counts exactly the decisions it changed."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import pytest
import yaml

from factory_app import events
from factory_app.broker.node import free_port
from factory_app.children import wait_until
from factory_app.config import load_plant
from factory_app.config.rule_edits import with_rule_params
from harness.helpers import caught_up, read_topic
from harness.plant import Plant, make_settings, opc_read, wait_plcs_ready

pytestmark = pytest.mark.integration

RULE = "oven-1-thermostat"


def live_commands(settings, topic=events.COMMANDS) -> list:
    recs = asyncio.run(read_topic(settings, topic))
    return [events.decode(r.value) for part in recs.values() for r in part]


@pytest.fixture(scope="module")
def recorded(kafka, tmp_path_factory):
    """A plant run until the oven thermostat has heated the oven and switched it off, then its
    telemetry stopped and the worker caught up: a fixed log to ask questions of."""
    settings = make_settings(kafka.cfg.bootstrap, tmp_path_factory.mktemp("whatif"))
    shadow = settings.home / "shadow-plant.yaml"  # the same plant with the thermostat's deadline changed
    doc = yaml.safe_load(settings.plant_config.read_text())
    shadow.write_text(yaml.safe_dump(with_rule_params(doc, [(RULE, "deadline_s", 7.0)]), sort_keys=False))
    settings = settings.updated({"shadow_plant": shadow})
    plant = Plant(settings, load_plant(settings.plant_config))
    try:
        plant.start("sim", "worker", "ingest", "writer")
        wait_plcs_ready(plant)
        # Until the thermostat has switched the heater off: the log then holds the oven heating up
        # and cooling, the presses' cycles, and at least two of the thermostat's commands (on, off;
        # on a loaded machine a retried "on" can come first, so a count alone is not enough).
        wait_until(lambda: any(c.rule == RULE and c.value == 0.0 for c in live_commands(settings)), 240, interval=1,
                   what=f"{RULE} switching the heater off")
        plant.children["ingest"].stop(timeout=15)  # the log stops growing
        wait_until(lambda: caught_up(settings, ("telemetry",)), 120, what="the worker past the last telemetry")
        yield settings
    finally:
        plant.stop()


def whatif(settings, *args: str, plant_config=None) -> tuple[int, dict]:
    env = settings.to_env() | {"PATH": "/usr/bin:/bin"}
    if plant_config is not None:
        env["FACTORY_PLANT_CONFIG"] = str(plant_config)
    proc = subprocess.run([sys.executable, "-m", "factory_app", "whatif", "--json", *args], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def ids(part: dict) -> set[str]:
    return {ex["command_id"] if "command_id" in ex else ex["current"]["command_id"] for ex in part["first"]}


def test_no_change_no_difference_and_no_drift(recorded):
    code, rep = whatif(recorded, "--set", f"{RULE}.on_value=40")  # the value it already has
    assert code == 0 and not rep["differs"], rep
    assert rep["current_commands"] == rep["proposed_commands"] > 0
    drift = rep["drift"]
    assert drift["compared"] and drift["live"] == drift["recomputed"] > 0
    assert drift["only_live"]["count"] == drift["only_recomputed"]["count"] == drift["changed"]["count"] == 0


def test_a_changed_deadline_changes_exactly_that_rules_commands(recorded):
    mine = {c.command_id for c in live_commands(recorded) if c.rule == RULE}
    code, rep = whatif(recorded, "--set", f"{RULE}.deadline_s=7")
    assert code == 1 and rep["differs"]
    assert rep["changed"]["by_rule"] == {RULE: len(mine)}  # every one of its commands, no other rule's
    assert rep["added"]["count"] == rep["removed"]["count"] == 0
    assert ids(rep["changed"]) <= mine
    first = rep["changed"]["first"][0]
    assert first["proposed"]["value"] == first["current"]["value"]
    assert first["proposed"]["deadline"] - first["current"]["deadline"] == pytest.approx(2.0)


def test_a_band_the_oven_never_leaves_removes_exactly_that_rules_commands(recorded):
    mine = {c.command_id for c in live_commands(recorded) if c.rule == RULE}
    code, rep = whatif(recorded, "--set", f"{RULE}.on_below=-1000", "--set", f"{RULE}.off_above=100000")
    assert code == 1
    assert rep["removed"]["by_rule"] == {RULE: len(mine)}
    assert rep["added"]["count"] == rep["changed"]["count"] == 0
    assert ids(rep["removed"]) <= mine


def test_a_span_limits_the_report_to_commands_caused_in_it(recorded):
    mine = sorted((c.event_time, c.command_id) for c in live_commands(recorded) if c.rule == RULE)
    since = mine[1][0]  # from the second command's cause on
    code, rep = whatif(recorded, "--set", f"{RULE}.deadline_s=7", "--from", str(since))
    assert rep["changed"]["count"] == len(mine) - 1


def test_a_plant_file_other_than_the_one_that_ran_shows_as_drift(recorded, tmp_path):
    doc = yaml.safe_load(recorded.plant_config.read_text())
    for rule in doc["rules"]:
        if rule["name"] == RULE:
            rule["deadline_s"] = 9  # as if someone edited the file without the live rules knowing
    edited = tmp_path / "plant.yaml"
    edited.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, rep = whatif(recorded, "--set", f"{RULE}.deadline_s=9", plant_config=edited)
    assert not rep["differs"]  # the proposal equals the (edited) current file...
    assert code == 1 and set(rep["drift"]["changed"]["by_rule"]) == {RULE}  # ...but not what ran live
    assert rep["drift"]["changed"]["count"] > 0


def test_the_text_report_names_the_rule_the_asset_and_the_values(recorded):
    env = recorded.to_env() | {"PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "factory_app", "whatif", "--set", f"{RULE}.deadline_s=7"],
                          capture_output=True, text=True, env=env, timeout=300)
    print(proc.stdout)
    assert proc.returncode == 1
    assert f"({RULE}: " in proc.stdout and "oven-1.heater_power write" in proc.stdout
    assert "deadline +5.000 s -> +7.000 s" in proc.stdout
    assert "drift (the current rules live vs replayed" in proc.stdout and "): none" in proc.stdout
    assert "what-if" in proc.stderr  # the progress display


def test_shadow_commands_go_to_their_own_topic_and_never_reach_the_writer(recorded):
    active = {c.command_id: c for c in live_commands(recorded)}
    shadow = {c.command_id: c for c in live_commands(recorded, events.SHADOW_COMMANDS)}
    assert shadow and set(shadow) == set(active)  # the same decisions (ids: rule, cause, target)...
    changed = {cid for cid in shadow if shadow[cid].deadline != active[cid].deadline}
    assert changed == {cid for cid, c in active.items() if c.rule == RULE}  # ...the thermostat's with its deadline
    results = live_commands(recorded, events.COMMAND_RESULTS)
    # A shadow command reaching the writer would be another command under a handled id: a conflict.
    assert not [r for r in results if r.status == "conflict"]
    assert {r.command_id for r in results} <= set(active)


def test_the_live_comparison_counts_exactly_the_decisions_the_shadow_changed(recorded):
    import urllib.request

    by_rule: dict[str, int] = {}
    for c in live_commands(recorded):
        by_rule[c.rule] = by_rule.get(c.rule, 0) + 1
    code, rep = whatif(recorded, "--live")
    assert code == 1 and rep["differs"]
    assert rep["by_rule"][RULE] == {"changed": by_rule[RULE]}
    assert all(rep["by_rule"][rule] == {"same": n} for rule, n in by_rule.items() if rule != RULE)
    assert rep["recent"] and all(r["asset"] == "oven-1" for r in rep["recent"])
    text = urllib.request.urlopen(f"http://127.0.0.1:{recorded.web.port}/metrics", timeout=5).read().decode()
    line = f'factory_shadow_decisions_total{{outcome="changed",rule="{RULE}"}} {float(by_rule[RULE])}'
    assert line in text


def test_a_twin_calibrated_from_the_recorded_run_replays_its_ovens_and_presses(recorded, tmp_path):
    from factory_app.sim.physics import model_for
    from harness.plant import TEST_SIM_SPEED

    out = tmp_path / "twin.yaml"
    env = recorded.to_env() | {"PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "factory_app", "twin", "calibrate", "--out", str(out), "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    oven = rep["report"]["oven-1"]
    # The simulator's own oven, with the fitted parameters and the recorded heater powers, retraces
    # the recorded temperatures (which rose by well over 100 degC in the run).
    assert oven["calibrated"] and oven["fit_rms_c"] < 3.0, oven
    # ...and recovers the simulator's physics, per recorded second (the sim ran TEST_SIM_SPEED times
    # faster; a loaded machine's late ticks make it look slower, hence the wide band).
    fitted = rep["models"]["oven-1"]
    assert 0.5 < fitted["loss"] / (model_for("oven").loss * TEST_SIM_SPEED) < 1.5, fitted
    assert 0.5 < fitted["gain"] / (model_for("oven").gain * TEST_SIM_SPEED) < 1.5, fitted
    press = rep["models"]["press-1"]["cycle_s"]
    assert 2.0 / TEST_SIM_SPEED * 0.9 <= press < 2.0  # the simulated press's pace as recorded (never faster)
    assert not rep["report"]["conveyor-1"]["calibrated"]
    twin = load_plant(out)
    assert twin.sim.models["oven-1"] == rep["models"]["oven-1"] and twin.sim.calibration["code_version"]
    # The twin's simulated PLCs start with the calibrated models (to run rules against in closed loop),
    # on ports of their own: the recorded plant's still run.
    doc = yaml.safe_load(out.read_text())
    for asset in doc["assets"]:
        asset["endpoint"] = re.sub(r":\d+/", f":{free_port()}/", asset["endpoint"])
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    twin = load_plant(out)
    twin_plant = Plant(recorded.updated({"plant_config": out}), twin)
    try:
        twin_plant.start("sim")
        wait_plcs_ready(twin_plant)
        # Its oven starts at 20 degC with the heater off and drifts toward the calibrated ambient.
        ambient = rep["models"]["oven-1"]["ambient"]
        reading = asyncio.run(opc_read(twin_plant, "oven-1", "temperature"))
        assert min(20.0, ambient) - 1 <= reading <= max(20.0, ambient) + 1
    finally:
        twin_plant.stop()


def test_a_span_from_the_snapshots_decides_as_the_fold_from_offset_0(recorded, tmp_path):
    """With snapshots, ``--from`` starts each partition from the control processor's snapshot
    before the span: the current rules and the unchanged ones decide exactly as the fold from
    offset 0 does, the changed rule is named as started without memory, and fewer events are read."""
    snap = recorded.updated({"snapshot_dir": tmp_path / "snapshots", "snapshot_every_events": 50})
    env = snap.to_env() | {"PATH": "/usr/bin:/bin"}
    built = subprocess.run([sys.executable, "-m", "factory_app", "snapshots", "build"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    times = sorted(c.event_time for c in live_commands(recorded))
    since, until = times[len(times) // 2], times[-1] + 1
    args = ("--set", f"{RULE}.deadline_s=7", "--from", str(since), "--to", str(until), "--warmup", "0")
    _, bounded = whatif(snap, *args)
    _, full = whatif(snap, *args, "--full")
    assert bounded["from_snapshots"]["warmed_rules"] == [RULE]
    assert any(p["snapshot"] for p in bounded["from_snapshots"]["partitions"].values())
    assert bounded["events_folded"] < full["events_folded"]
    assert bounded["current_commands"] == full["current_commands"] > 0
    # Every difference is the changed rule's, and the rules left alone issue what they issue from offset 0.
    for part in ("added", "removed", "changed"):
        assert set(bounded[part]["by_rule"]) <= {RULE}, (part, bounded[part])
    assert bounded["drift"] == full["drift"]
