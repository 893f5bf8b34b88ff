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


def tel_q(asset, tag, value, t, quality):
    return events.Telemetry(event_id=f"{asset}-{tag}-{t}-{quality}", asset_id=asset, event_time=float(t), tag=tag,
                            value=value, quality=quality)


def test_thermostat_never_heats_on_a_reading_that_is_not_good_it_fails_safe():
    """On 1081d30 an uncertain 5 degC reading switched the heater on."""
    off = [rules.Intent("oven", "write", "heater_power", 0.0)]
    for quality in ("uncertain", "bad"):
        out, *_ = run(THERMO, [tel("oven", "heater_power", 40.0, 0), tel_q("oven", "temperature", 5.0, 1, quality),
                               tel("other", "temperature", 5.0, 2)])
        assert out == [[], off, []], quality
    hold = THERMO.model_copy(update={"on_stale": "hold"})
    out, *_ = run(hold, [tel_q("oven", "temperature", 5.0, 1, "uncertain")])
    assert out == [[]]


def test_thermostat_switches_off_on_a_stale_temperature_and_distrusts_an_old_heater_value():
    # The temperature stops updating while the oven keeps reporting its heater power.
    out, *_ = run(THERMO, [tel("oven", "temperature", 20.0, 0), tel("oven", "heater_power", 40.0, 1),
                           tel("oven", "heater_power", 40.0, THERMO.stale_s + 5)])
    assert out[-1] == [rules.Intent("oven", "write", "heater_power", 0.0)]
    # A heater value older than stale_s is not trusted as "already on": the thermostat asks.
    out, *_ = run(THERMO, [tel("oven", "heater_power", 40.0, 0), tel("oven", "temperature", 20.0, THERMO.stale_s + 5)])
    assert out[-1] == [rules.Intent("oven", "write", "heater_power", 40.0)]


def test_rules_stand_aside_in_manual_mode_interlocks_excepted():
    """The control processor's step: a ModeChange (operator-actions) folds into its mode table,
    and the rules see the asset's state with that mode."""
    from agents import control

    def mode(asset, to, t):
        return events.ModeChange(event_id=f"m-{asset}-{t}", asset_id=asset, event_time=float(t), mode=to,
                                 operator="operator")

    def decisions(rule, evs):
        by_asset = {rules.trigger_asset(rule): [rule]}
        state, memory, modes = {}, {}, {}
        return [[(c.target, c.value) for c in control.step(by_asset, state, memory, ev, None, modes)] for ev in evs]

    assert decisions(THERMO, [mode("oven", "manual", 0), tel("oven", "temperature", 20.0, 1),
                              mode("oven", "auto", 2), tel("oven", "temperature", 20.0, 3)]) == \
        [[], [], [], [("heater_power", 40.0)]]
    reset = AutoResetRule(kind="auto_reset", name="r", asset="p")
    assert decisions(reset, [mode("p", "manual", 0), tel("p", "state", "faulted", 1),
                             tel("p", "fault_active", False, 2)])[-1] == []
    lock = InterlockRule(kind="interlock", name="i", upstream="c1", downstream="c2", input="jammed",
                         trip_values=[True])
    assert decisions(lock, [mode("c2", "manual", 0), tel("c2", "jammed", True, 1)])[-1] == [("motor_on", False)]


def test_a_mode_change_on_the_telemetry_topic_is_not_decodable():
    # What the ingest principal can write: a StateTransition; a mode is not one of its kinds.
    raw = b'{"type":"state","event_id":"x","asset_id":"oven-1","event_time":1.0,"kind":"mode","to_state":"manual"}'
    try:
        events.decode(raw, expect=(events.Telemetry, events.StateTransition))
    except events.DecodeFailure as failure:
        assert failure.reason == "invalid"
    else:
        raise AssertionError("a mode change decoded from the telemetry topic")


def test_interlock_fires_once_per_trip():
    rule = InterlockRule(kind="interlock", name="i", upstream="c1", downstream="c2", input="jammed",
                         trip_values=[True])
    out, *_ = run(rule, [tel("c2", "jammed", False, 1), tel("c2", "jammed", True, 2), tel("c2", "jammed", True, 3),
                         tel("c2", "jammed", False, 4), tel("c2", "jammed", True, 5)])
    assert out == [[], [rules.Intent("c1", "write", "motor_on", False)], [], [],
                   [rules.Intent("c1", "write", "motor_on", False)]]


def test_interlock_stops_the_upstream_when_the_downstream_is_lost_and_keeps_it_stopped():
    """On 1081d30 a lost downstream was ignored, and an expired or failed stop never retried."""
    rule = InterlockRule(kind="interlock", name="i", upstream="c1", downstream="c2", input="jammed",
                         trip_values=[True], retry_s=2.0)
    stop = [rules.Intent("c1", "write", "motor_on", False)]
    lost = events.StateTransition(event_id="l", asset_id="c2", event_time=1.0, kind="connection",
                                  to_state="disconnected")
    back = events.StateTransition(event_id="b", asset_id="c2", event_time=5.0, kind="connection",
                                  to_state="connected")
    out, *_ = run(rule, [tel("c2", "jammed", False, 0), lost, back, tel("c2", "jammed", False, 6)])
    assert out == [[], stop, [], []]  # lost: stop; back and not jammed: the trip is over
    # Tripped: re-asserted every retry_s on the downstream's events, until the trip clears.
    out, *_ = run(rule, [tel("c2", "jammed", True, 0), tel("c2", "speed", 0.0, 1), tel("c2", "speed", 0.0, 2.5),
                         tel("c2", "speed", 0.0, 3), tel("c2", "jammed", False, 5), tel("c2", "speed", 0.0, 9)])
    assert out == [stop, [], stop, [], [], []]
    # A bad reading of the input is a lost input: fail safe.
    out, *_ = run(rule, [tel_q("c2", "jammed", False, 1, "bad")])
    assert out == [stop]
    relaxed = rule.model_copy(update={"trip_on_lost": False})
    out, *_ = run(relaxed, [lost, tel_q("c2", "jammed", False, 2, "bad")])
    assert out == [[], []]


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


def test_auto_reset_fails_safe():
    """On 1081d30 auto-reset acted on a bad-quality or stale fault_active=False and retried forever."""
    reset = [rules.Intent("p", "call", "reset_fault")]
    rule = AutoResetRule(kind="auto_reset", name="r", asset="p", retry_s=1.0, max_attempts=2, dwell_s=2.0)
    # Bad quality "cleared" is not cleared; a "cleared" older than the fault is not either.
    out, *_ = run(rule, [tel("p", "fault_active", False, 0), tel("p", "state", "faulted", 1),
                         tel_q("p", "fault_active", False, 5, "bad"), tel("p", "state", "faulted", 9)])
    assert out == [[], [], [], []]
    # Cleared for dwell_s, then at most max_attempts resets retry_s apart, then the operator decides.
    out, *_ = run(rule, [tel("p", "state", "faulted", 1), tel("p", "fault_active", False, 2),
                         tel("p", "cycle", 1, 3), tel("p", "cycle", 2, 4.5), tel("p", "cycle", 3, 5),
                         tel("p", "cycle", 4, 6), tel("p", "cycle", 5, 9)])
    assert out == [[], [], [], reset, [], reset, []]
    # A permissive tag must be True.
    permissive = rule.model_copy(update={"permissive_tag": "auto_reset_ok", "dwell_s": 0.0})
    out, *_ = run(permissive, [tel("p", "state", "faulted", 1), tel("p", "fault_active", False, 2),
                               tel("p", "auto_reset_ok", True, 3)])
    assert out == [[], [], reset]


def test_commands_have_deterministic_ids_and_deadlines():
    cause = tel("oven", "temperature", 20.0, 100, eid="cause-1")
    a = rules.commands_for(THERMO, [rules.Intent("oven", "write", "heater_power", 40.0)], cause)
    b = rules.commands_for(THERMO, [rules.Intent("oven", "write", "heater_power", 40.0)], cause)
    assert a == b and a[0].deadline == 100 + THERMO.deadline_s and a[0].cause_event_id == "cause-1"
