import pytest

from adapters.command_writer import Refused, check_command, check_value
from factory_app import events
from factory_app.config import WriteTag, load_plant
from tests.plant import REPO

PLANT = load_plant(REPO / "config" / "plant.yaml")


def cmd(asset, target, value=None, action="write"):
    return events.Command(event_id="c", command_id="c", asset_id=asset, event_time=0, action=action, target=target,
                          value=value, cause_event_id="x", rule="r", deadline=1)


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
