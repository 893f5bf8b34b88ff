import asyncio
import msgspec
import pytest

from adapters.command_writer import Refused, check_command, check_value
from factory_app import events
from factory_app.config import WriteTag, load_plant
from harness.plant import REPO

PLANT = load_plant(REPO / "config" / "plant.yaml")


def cmd(asset, target, value=None, action="write"):
    return events.Command(event_id="c", command_id="c", asset_id=asset, event_time=0, action=action, target=target,
                          value=value, cause_event_id="x", rule="operator", deadline=1)


@pytest.mark.parametrize("spec,value,ok", [
    (WriteTag(tag="p", node="n", type="float", min=0, max=100), 50, 50.0),
    (WriteTag(tag="p", node="n", type="float", min=0, max=100), 100.0, 100.0),
    (WriteTag(tag="p", node="n", type="int"), 3.0, 3),
    (WriteTag(tag="p", node="n", type="bool"), False, False),
])
def test_accepted_values_are_coerced(spec, value, ok):
    out = check_value(spec, value)
    assert out == ok and type(out) is type(ok)


@pytest.mark.parametrize("spec,value", [
    (WriteTag(tag="p", node="n", type="float", min=0, max=100), 100.01),
    (WriteTag(tag="p", node="n", type="float", min=0, max=100), -1),
    (WriteTag(tag="p", node="n", type="float"), True),
    (WriteTag(tag="p", node="n", type="float"), "1"),
    (WriteTag(tag="p", node="n", type="float"), float("inf")),
    (WriteTag(tag="p", node="n", type="int"), 2.5),
    (WriteTag(tag="p", node="n", type="bool"), 1),
])
def test_refused_values(spec, value):
    with pytest.raises(Refused) as info:
        check_value(spec, value)
    assert info.value.status == "rejected"


def test_allow_list():
    asset, spec = check_command(PLANT, cmd("oven-1", "heater_power", 10.0))
    assert asset.id == "oven-1" and spec.tag == "heater_power"
    for bad in (cmd("oven-1", "temperature", 1.0), cmd("nope", "heater_power", 1.0),
                cmd("press-1", "explode", action="call")):
        with pytest.raises(Refused):
            check_command(PLANT, bad)
    assert check_command(PLANT, cmd("press-1", "reset_fault", action="call"))[1] is None


def test_a_far_deadline_is_clamped_to_receipt_plus_the_maximum(tmp_path):
    from adapters.command_writer import CommandWriter
    from factory_app.settings import Settings

    writer = CommandWriter(Settings(home=tmp_path, max_command_deadline=60.0), PLANT, clock=lambda: 1000.0)
    try:
        far = events.Command(event_id="c", command_id="c", asset_id="oven-1", event_time=999.0, action="write",
                             target="heater_power", value=1.0, cause_event_id="x", rule="r", deadline=1e300)
        assert writer.effective_deadline(far, received=1000.0) == 1060.0
        near = msgspec.structs.replace(far, deadline=1002.0)
        assert writer.effective_deadline(near, received=1000.0) == 1002.0
    finally:
        writer.ledger.close()


def test_a_rule_deadline_has_an_upper_bound():
    from factory_app.config import MAX_RULE_DEADLINE_S, ThermostatRule

    with pytest.raises(ValueError):
        ThermostatRule(kind="thermostat", name="t", asset="oven-1", on_below=1, off_above=2, on_value=1,
                       deadline_s=MAX_RULE_DEADLINE_S + 1)


def test_a_check_that_raises_becomes_a_rejected_result(tmp_path, monkeypatch):
    """No content of a message may stop the writer: an unexpected error while checking a
    command is that command's rejection, not the writer's crash."""
    import asyncio

    from adapters import command_writer
    from factory_app.settings import Settings

    def broken(plant, cmd):
        raise OverflowError("int too large to convert to float")
    monkeypatch.setattr(command_writer, "check_command", broken)
    writer = command_writer.CommandWriter(Settings(home=tmp_path), PLANT, clock=lambda: 0.5)
    try:
        result = asyncio.run(writer.handle(cmd("oven-1", "heater_power", 1.0)))
    finally:
        writer.ledger.close()
    assert result.status == "rejected" and "could not be checked: OverflowError" in result.detail


@pytest.mark.parametrize("spec,value,readback,status", [
    (WriteTag(tag="p", node="n", type="float"), 1.5, 1.5, "applied"),
    (WriteTag(tag="p", node="n", type="float"), 0.1, 0.10000000149011612, "applied_mismatch"),  # a PLC Real
    (WriteTag(tag="p", node="n", type="float", readback_tolerance=1e-6), 0.1, 0.10000000149011612, "applied"),
    (WriteTag(tag="p", node="n", type="float", max=2), 2.0, 1.0, "applied_mismatch"),  # the PLC clamped it
    (WriteTag(tag="p", node="n", type="bool"), True, 1, "applied_mismatch"),
    (WriteTag(tag="p", node="n", type="int"), 3, 3, "applied"),
])
def test_the_read_back_decides_between_applied_and_applied_mismatch(spec, value, readback, status):
    from adapters.command_writer import readback_outcome

    assert readback_outcome(spec, value, readback)[0] == status


def test_an_outcome_recorded_before_a_crash_is_re_sent_not_reported_unknown(tmp_path):
    """The writer records what applying did before appending the result; a restart between the
    two re-sends that outcome instead of 'unknown' (and never applies the command again)."""
    import asyncio

    from adapters.command_writer import CommandWriter
    from factory_app.settings import Settings

    settings = Settings(home=tmp_path)
    first = CommandWriter(settings, PLANT, clock=lambda: 0.5)
    first.ledger.record_intent("c")
    first.ledger.record_outcome("c", "applied", "heater_power = 1.0", 1.0)
    first.ledger.close()  # the process died here, before the result was appended

    again = CommandWriter(settings, PLANT, clock=lambda: 0.6)
    try:
        result = asyncio.run(again.handle(cmd("oven-1", "heater_power", 1.0)))
        lost = cmd("oven-1", "heater_power", 2.0)
        lost = msgspec.structs.replace(lost, command_id="d", event_id="d")
        again.ledger.record_intent("d")  # died between the intent and the write's outcome
        unknown = asyncio.run(again.handle(lost))
    finally:
        again.ledger.close()
    assert (result.status, result.readback) == ("applied", 1.0) and "re-sent" in result.detail
    assert unknown.status == "unknown"


def test_method_arguments_follow_the_declared_schema():
    from adapters.command_writer import check_args
    from factory_app.config import MethodSpec

    spec = MethodSpec(name="inject_fault", node="n", args=["float"])
    assert [v.Value for v in check_args(spec, (2.0,))] == [2.0]
    for bad in ((), (1.0, 2.0), ("x",), (True,), (float("inf"),)):
        with pytest.raises(Refused):
            check_args(spec, bad)


def test_the_digest_names_what_a_command_asks_for_not_when_it_was_stamped():
    a = cmd("oven-1", "heater_power", 1.0)
    assert events.command_digest(a) == events.command_digest(msgspec.structs.replace(a, event_time=99.0))
    assert events.command_digest(a) != events.command_digest(msgspec.structs.replace(a, value=2.0))
    assert events.command_digest(a) != events.command_digest(msgspec.structs.replace(a, target="x"))


def test_a_rule_may_act_only_on_what_its_configuration_names_and_operators_on_their_targets():
    """On 1081d30 any command naming any rule could write any allow-listed target."""
    ok = events.Command(event_id="c", command_id="c", asset_id="oven-1", event_time=0, action="write",
                        target="heater_power", value=40.0, cause_event_id="x", rule="oven-1-thermostat", deadline=1)
    assert check_command(PLANT, ok)[0].id == "oven-1"
    for rule, asset, target in (("oven-1-thermostat", "oven-2", "heater_power"),   # another oven
                                ("conveyor-2-jam-stops-conveyor-1", "conveyor-1", "speed_setpoint"),
                                ("someone", "oven-1", "heater_power")):          # not a rule, not an operator
        bad = msgspec.structs.replace(ok, rule=rule, asset_id=asset, target=target)
        with pytest.raises(Refused, match="may not"):
            check_command(PLANT, bad)
    operator = msgspec.structs.replace(ok, rule="operator", asset_id="conveyor-1", target="speed_setpoint")
    assert check_command(PLANT, operator)[1].tag == "speed_setpoint"


def by_rule(rule, asset, target, value=None, action="write", args=()):
    return msgspec.structs.replace(cmd(asset, target, value, action), rule=rule, args=args)


@pytest.mark.parametrize("command,why", [
    # Before: a command naming a thermostat wrote heater_power=100 where the rule says 40 (or 0).
    (by_rule("oven-1-thermostat", "oven-1", "heater_power", 100.0), "(40.0, 0.0), not 100.0"),
    # An interlock restarting what it stops.
    (by_rule("conveyor-2-jam-stops-conveyor-1", "conveyor-1", "motor_on", True), "(False), not True"),
    (by_rule("press-1-auto-reset", "press-1", "reset_fault", action="call", args=(1,)), "(()), not (1,)"),
])
def test_a_rule_may_ask_only_the_values_its_configuration_names(command, why):
    with pytest.raises(Refused) as refused:
        check_command(PLANT, command)
    assert refused.value.status == "rejected" and why in refused.value.detail, refused.value.detail


def test_what_a_rule_names_is_accepted_and_operators_keep_the_tag_limits():
    for ok in (by_rule("oven-1-thermostat", "oven-1", "heater_power", 40.0),
               by_rule("oven-1-thermostat", "oven-1", "heater_power", 0.0),
               by_rule("oven-1-thermostat", "oven-1", "heater_power", 40),  # 40 and 40.0 are one value
               by_rule("conveyor-2-jam-stops-conveyor-1", "conveyor-1", "motor_on", False),
               by_rule("press-1-auto-reset", "press-1", "reset_fault", action="call"),
               cmd("oven-1", "heater_power", 77.0)):  # an operator: any value within the tag's limits
        check_command(PLANT, ok)
    with pytest.raises(Refused):  # False is not 0.0
        check_command(PLANT, by_rule("oven-1-thermostat", "oven-1", "heater_power", False))


def test_only_an_exact_safety_command_takes_the_safety_lane():
    from adapters.command_writer import takes_safety_lane

    safety = {"conveyor-2-jam-stops-conveyor-1", "press-1-fault-stops-conveyor-2"}
    stop = by_rule("conveyor-2-jam-stops-conveyor-1", "conveyor-1", "motor_on", False)
    assert takes_safety_lane(PLANT, stop, safety)
    # Before: any command naming an interlock went ahead of the queue, a restart included.
    for not_ahead in (by_rule("conveyor-2-jam-stops-conveyor-1", "conveyor-1", "motor_on", True),
                      by_rule("conveyor-2-jam-stops-conveyor-1", "conveyor-2", "motor_on", False),
                      by_rule("oven-1-thermostat", "oven-1", "heater_power", 0.0),
                      cmd("conveyor-1", "motor_on", False)):
        assert not takes_safety_lane(PLANT, not_ahead, safety), not_ahead


def test_method_arguments_have_limits_and_integers_fit_an_opc_ua_int64():
    """Before: MethodSpec had no limits and the int check accepted 1e300 (integral), which failed
    only while the request was being sent, reported "unknown" (may have landed)."""
    from adapters.command_writer import check_args
    from factory_app.config import MethodSpec

    spec = MethodSpec.model_validate({"name": "set_batch", "node": "n",
                                      "args": ["bool", {"type": "int", "min": 1, "max": 500}, {"type": "float", "max": 2.5}]})
    assert [v.Value for v in check_args(spec, (True, 12, 2.0))] == [True, 12, 2.0]
    for bad, why in (((True, 501, 1.0), "outside its limits"), ((True, 0, 1.0), "outside its limits"),
                     ((True, 5, 2.6), "outside its limits"), ((True, 1e300, 1.0), "outside")):
        with pytest.raises(Refused) as refused:
            check_args(spec, bad)
        assert refused.value.status == "rejected" and why in refused.value.detail, refused.value.detail
    unbounded = MethodSpec(name="m", node="n", args=["int"])
    for huge in (1e300, 2 ** 63, -2 ** 64):
        with pytest.raises(Refused, match="Int64"):
            check_args(unbounded, (huge,))
    assert [v.Value for v in check_args(unbounded, (2 ** 63 - 1,))] == [2 ** 63 - 1]


def test_an_int_tag_value_beyond_int64_is_rejected_before_anything_is_sent():
    from factory_app.config import WriteTag

    with pytest.raises(Refused, match="Int64"):
        check_value(WriteTag(tag="count", node="n", type="int"), 1e300)


def test_a_rules_command_for_an_asset_in_manual_is_rejected_naming_the_mode_interlock_stops_excepted(tmp_path):
    """Issue 29, item 10: the writer's own view of the operator-actions topic decides at the write."""
    from adapters.command_writer import CommandWriter
    from factory_app.settings import Settings

    def rule_cmd(cid, asset, target, value, rule):
        return events.Command(event_id=cid, command_id=cid, asset_id=asset, event_time=0.5, action="write",
                              target=target, value=value, cause_event_id="x", rule=rule, deadline=1.0)

    def manual(asset):
        return events.encode(events.ModeChange(event_id=f"m-{asset}", asset_id=asset, event_time=0.1,
                                               mode="manual", operator="operator", reason="heater maintenance"))

    writer = CommandWriter(Settings(home=tmp_path), PLANT, clock=lambda: 0.5)
    try:
        heat = rule_cmd("h1", "oven-1", "heater_power", 40.0, "oven-1-thermostat")
        assert writer.held(heat) is None  # auto: it may act
        writer.modes.absorb(manual("oven-1"))
        writer.modes.absorb(manual("conveyor-1"))
        result = asyncio.run(writer.handle(heat))
        assert result.status == "rejected"
        assert "oven-1 is in manual (set by operator" in result.detail and "heater maintenance" in result.detail
        assert not writer.ledger.has_intent("h1")  # nothing announced, nothing sent
        # The operator's own command acts in manual; so does an interlock's exact stop.
        assert writer.held(rule_cmd("o1", "oven-1", "heater_power", 10.0, "operator")) is None
        assert writer.held(rule_cmd("s1", "conveyor-1", "motor_on", False, "conveyor-2-jam-stops-conveyor-1")) is None
        # Anything else naming the interlock is held like any rule's command.
        assert writer.held(rule_cmd("s2", "conveyor-1", "motor_on", True, "conveyor-2-jam-stops-conveyor-1"))
        writer.modes.absorb(events.encode(events.ModeChange(event_id="a", asset_id="oven-1", event_time=0.2,
                                                            mode="auto", operator="operator")))
        assert writer.held(heat) is None
        writer.modes.absorb(b"not json")  # a bad record changes no mode
        assert writer.held(heat) is None
    finally:
        writer.ledger.close()
