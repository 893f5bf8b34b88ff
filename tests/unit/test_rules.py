from factory_app import events, rules
from factory_app.config import AutoResetRule, InterlockRule, ThermostatRule
from tables.asset_state import apply_event

THERMO = ThermostatRule(kind="thermostat", name="t", asset="oven", on_below=180, off_above=190, on_value=40,
                        retry_s=3)


def tel(asset, tag, value, t, eid=None):
    return events.Telemetry(event_id=eid or f"{asset}-{tag}-{t}", asset_id=asset, event_time=float(t), tag=tag,
                            value=value)


def run(rule, evs, memory=None, state=None):
    out = []
    for ev in evs:
        state = apply_event(state, ev)
        intents, memory = rules.evaluate(rule, state, ev, memory)
        out.append(intents)
    return out, memory, state


def test_thermostat_heats_when_cold_and_stops_when_hot():
    out, *_ = run(THERMO, [tel("oven", "temperature", 20.0, 1)])
    assert out == [[rules.Intent("oven", "write", "heater_power", 40.0)]]
    out, *_ = run(THERMO, [tel("oven", "heater_power", 40.0, 0), tel("oven", "temperature", 195.0, 1)])
    assert out[-1] == [rules.Intent("oven", "write", "heater_power", 0.0)]


def test_thermostat_holds_inside_the_band_and_does_not_repeat_itself():
    out, memory, state = run(THERMO, [tel("oven", "temperature", 20.0, 1), tel("oven", "temperature", 21.0, 2),
                                      tel("oven", "temperature", 185.0, 3)])
    assert out[1] == [] and out[2] == []  # asked once; in the band nothing is asked
    out, *_ = run(THERMO, [tel("oven", "temperature", 22.0, 4.5)], memory, state)
    assert out == [[rules.Intent("oven", "write", "heater_power", 40.0)]]  # no answer within retry_s: ask again


def test_thermostat_is_quiet_when_the_plc_already_has_the_value():
    out, *_ = run(THERMO, [tel("oven", "heater_power", 40.0, 0), tel("oven", "temperature", 20.0, 1)])
    assert out[-1] == []


def test_thermostat_ignores_bad_quality_and_other_assets():
    bad = events.Telemetry(event_id="b", asset_id="oven", event_time=1, tag="temperature", value=5.0, quality="bad")
    out, *_ = run(THERMO, [bad, tel("other", "temperature", 5.0, 2)])
    assert out == [[], []]


def test_interlock_fires_once_per_trip():
    rule = InterlockRule(kind="interlock", name="i", upstream="c1", downstream="c2", input="jammed",
                         trip_values=[True])
    out, *_ = run(rule, [tel("c2", "jammed", False, 1), tel("c2", "jammed", True, 2), tel("c2", "jammed", True, 3),
                         tel("c2", "jammed", False, 4), tel("c2", "jammed", True, 5)])
    assert out == [[], [rules.Intent("c1", "write", "motor_on", False)], [], [],
                   [rules.Intent("c1", "write", "motor_on", False)]]


def test_interlock_does_not_confuse_true_with_one():
    rule = InterlockRule(kind="interlock", name="i", upstream="c1", downstream="c2", input="jammed",
                         trip_values=[True])
    out, *_ = run(rule, [tel("c2", "jammed", 1, 1)])
    assert out == [[]]


def test_auto_reset_waits_for_the_fault_to_clear():
    rule = AutoResetRule(kind="auto_reset", name="r", asset="p")
    out, *_ = run(rule, [tel("p", "state", "faulted", 1), tel("p", "fault_active", True, 1.1),
                         tel("p", "fault_active", False, 5)])
    assert out == [[], [], [rules.Intent("p", "call", "reset_fault")]]


def test_commands_have_deterministic_ids_and_deadlines():
    cause = tel("oven", "temperature", 20.0, 100, eid="cause-1")
    a = rules.commands_for(THERMO, [rules.Intent("oven", "write", "heater_power", 40.0)], cause)
    b = rules.commands_for(THERMO, [rules.Intent("oven", "write", "heater_power", 40.0)], cause)
    assert a == b and a[0].deadline == 100 + THERMO.deadline_s and a[0].cause_event_id == "cause-1"
