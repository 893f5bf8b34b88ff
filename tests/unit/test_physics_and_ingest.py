from datetime import datetime, timedelta, timezone

from adapters.ingest import Ingest, Sample, Transition
from factory_app import events
from factory_app.config import load_plant
from factory_app.settings import Settings
from factory_app.sim.physics import Conveyor, Oven, Press
from harness.plant import REPO


def test_oven_heats_with_lag_and_cools_to_ambient():
    oven = Oven(heater_power=50)
    oven.step(0.1)
    assert oven.temperature < 20.1  # the element lags: almost no heat yet
    for _ in range(3000):
        oven.step(0.1)
    # equilibrium 20 + 0.05*50/0.01 = 270; after 3 time constants (300 s) ~95 % of the way: 257.6
    assert 255 < oven.temperature < 260
    oven.heater_power = 0
    for _ in range(20000):
        oven.step(0.1)
    assert abs(oven.temperature - 20) < 1


def test_conveyor_counts_parts_and_stops_when_jammed():
    c = Conveyor(speed_setpoint=1.0)
    for _ in range(100):
        c.step(0.1)
    assert c.part_counter > 10 and c.state == "running"
    c.inject_jam()
    for _ in range(20):
        c.step(0.1)
    parts = c.part_counter
    c.step(1.0)
    assert c.speed == 0 and c.part_counter == parts and c.state == "jammed"


def test_press_fault_needs_reset_after_it_clears():
    p = Press()
    p.step(5)
    assert p.state == "running" and p.cycle_counter == 2
    p.inject_fault(3)
    assert p.reset_fault() == "fault still active"
    p.step(4)
    assert p.state == "faulted" and not p.fault_active
    assert p.reset_fault() is None and p.state == "idle"


def sample(tag, value, ts):
    return Sample("oven-1", tag, value, ts, ts, None)


def test_ingest_drops_replayed_samples_and_numbers_the_rest():
    ing = Ingest(Settings(), load_plant(REPO / "config" / "plant.yaml"))
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    a = ing.to_event(sample("temperature", 20.0, t0))
    b = ing.to_event(sample("temperature", 21.0, t0 + timedelta(seconds=1)))
    replay = ing.to_event(sample("temperature", 21.0, t0 + timedelta(seconds=1)))  # resubscribe after outage
    assert a.seq == 1 and b.seq == 2 and replay is None
    assert b.event_time == (t0 + timedelta(seconds=1)).timestamp()
    assert ing.to_event(sample("temperature", [1, 2], t0 + timedelta(seconds=2))) is None  # arrays are not scalars
    tr = ing.to_event(Transition("oven-1", "disconnected", "session lost", 5.0))
    assert isinstance(tr, events.StateTransition) and tr.kind == "connection" and tr.to_state == "disconnected"


def test_a_state_tag_change_is_also_a_machine_transition():
    ing = Ingest(Settings(), load_plant(REPO / "config" / "plant.yaml"))
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    first = ing.to_events(Sample("press-1", "state", "running", t0, t0, None))
    same = ing.to_events(Sample("press-1", "state", "running", t0 + timedelta(seconds=1), None, None))
    fault = ing.to_events(Sample("press-1", "state", "faulted", t0 + timedelta(seconds=2), None, None))
    assert [type(e).__name__ for e in first] == ["Telemetry", "StateTransition"]
    assert [type(e).__name__ for e in same] == ["Telemetry"]
    assert fault[1].from_state == "running" and fault[1].to_state == "faulted" and fault[1].kind == "machine"


def test_a_sample_outside_the_contract_is_counted_not_fatal():
    from factory_app import metrics

    ing = Ingest(Settings(), load_plant(REPO / "config" / "plant.yaml"))
    refused = metrics.SAMPLES_REFUSED.labels("oven-1")
    before = refused._value.get()
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert ing.to_event(sample("temperature", float("inf"), t0)) is None
    # OPC UA's minimum DateTime: what a PLC whose clock was never set reports.
    assert ing.to_event(sample("heater_power", 20.0, datetime(1601, 1, 1, tzinfo=timezone.utc))) is None
    assert refused._value.get() - before == 2
    assert ing.to_event(sample("temperature", 20.0, t0 + timedelta(seconds=1))).seq == 1
