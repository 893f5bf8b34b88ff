"""The plant view's pure parts: operator tokens, operator commands, what a tile shows, the event hub."""

import asyncio

import pytest

from factory_app import events
from factory_app.config import load_plant
from factory_app.operator_commands import OperatorRefused, operator_command, parse_value
from factory_app.ui import auth
from factory_app.ui.hub import Hub
from factory_app.ui.presenter import asset_view, open_faults, trend
from harness.plant import REPO
from tables.keys import index_key, window_key

PLANT = load_plant(REPO / "config" / "plant.yaml")


def test_a_token_authenticates_its_operator_and_nothing_else(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("# comment\n" + auth.token_line("alice", "s3cret") + auth.token_line("bob", "other"))
    assert auth.operator_for("Bearer s3cret", path) == "alice"
    assert auth.operator_for("Bearer other", path) == "bob"
    for header in (None, "", "Bearer ", "Bearer wrong", "s3cret", "Basic s3cret"):
        assert auth.operator_for(header, path) is None, header
    assert "s3cret" not in path.read_text(), "only digests are kept"
    assert auth.operator_for("Bearer s3cret", tmp_path / "missing") is None


def test_a_malformed_tokens_file_is_a_clear_error(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("alice plaintext-token\n")
    with pytest.raises(ValueError, match="tokens:1: expected 'NAME sha256:HEX'"):
        auth.operator_for("Bearer x", path)


def test_an_operator_command_names_its_operator_and_gets_a_deadline():
    cmd = operator_command(PLANT, "operator", "oven-1", "write", "heater_power", "30", now=1000.0)
    assert (cmd.rule, cmd.asset_id, cmd.target, cmd.value, cmd.deadline) == ("operator", "oven-1", "heater_power",
                                                                               30.0, 1010.0)
    assert cmd.cause_event_id.startswith("request-")
    assert cmd.command_id == events.command_id("operator", cmd.cause_event_id, "heater_power")
    again = operator_command(PLANT, "operator", "oven-1", "write", "heater_power", "30", now=1000.0)
    assert again.command_id != cmd.command_id, "two requests are two commands"
    call = operator_command(PLANT, "operator", "press-1", "call", "reset_fault", now=1000.0)
    assert (call.action, call.args, call.value) == ("call", (), None)
    assert events.decode(events.encode(cmd)) == cmd


@pytest.mark.parametrize("operator,asset,action,target,value,why", [
    ("operator", "oven-9", "write", "heater_power", "1", "unknown asset"),
    ("mallory", "oven-1", "write", "heater_power", "1", "not an operator"),
    ("operator", "oven-1", "write", "temperature", "1", "not in the asset's write list"),
    ("operator", "oven-1", "write", "heater_power", None, "needs a value"),
    ("operator", "oven-1", "write", "heater_power", "hot", "not a float"),
    ("operator", "conveyor-1", "write", "motor_on", "maybe", "not a bool"),
    ("operator", "press-1", "call", "explode", None, "not one of the asset's methods"),
])
def test_operator_requests_outside_the_plant_file_are_refused_before_anything_is_sent(operator, asset, action,
                                                                                      target, value, why):
    with pytest.raises(OperatorRefused, match=why):
        operator_command(PLANT, operator, asset, action, target, value, now=1000.0)


def test_an_operator_acts_only_on_its_targets():
    plant = PLANT.model_copy(update={"operators": [PLANT.operators[0].model_copy(update={"targets": ["oven-1.heater_power"]})]})
    operator_command(plant, "operator", "oven-1", "write", "heater_power", "5", now=0.0)
    with pytest.raises(OperatorRefused, match="may not write oven-2.heater_power"):
        operator_command(plant, "operator", "oven-2", "write", "heater_power", "5", now=0.0)


def test_values_are_parsed_by_the_tags_type():
    assert parse_value("on", "bool") is True and parse_value("0", "bool") is False
    assert parse_value(" 7 ", "int") == 7 and parse_value("2.5", "float") == 2.5
    with pytest.raises(OperatorRefused):
        parse_value("2.5", "int")


def state(**tags):
    return {"asset_id": "conveyor-1", "connection": "connected", "machine_state": "running", "events": 3,
            "last_event_time": 100.0, "tags": {t: {"value": v, "quality": "good", "event_time": 100.0}
                                               for t, v in tags.items()}}


def test_a_tile_says_what_is_wrong_in_words():
    conveyor = PLANT.asset("conveyor-1")
    assert open_faults(conveyor, state(jammed=False)) == []
    jammed = state(jammed=True)
    jammed["machine_state"] = "jammed"
    assert open_faults(conveyor, jammed) == ["machine jammed", "jammed set"]
    lost = state(speed=1.0)
    lost["connection"] = "lost"
    lost["tags"]["speed"]["quality"] = "bad"
    assert open_faults(conveyor, lost) == ["connection lost", "speed quality bad"]
    assert open_faults(conveyor, None) == ["no data yet"]


def test_a_tile_marks_stale_data_and_shows_units_and_who_answered():
    oven = PLANT.asset("oven-1")
    entry = {"state": {**state(temperature=180.5), "asset_id": "oven-1"}, "counts": {"applied": 2}, "worker": "w1"}
    fresh, old = asset_view(oven, entry, now=101.0), asset_view(oven, entry, now=200.0)
    assert (fresh["health"], old["health"]) == ("ok", "stale")
    assert fresh["tags"][0] == {"tag": "temperature", "unit": "°C", "fault": False, "value": 180.5,
                                "quality": "good", "event_time": 100.0}
    assert (fresh["counts"], fresh["worker"], fresh["age_s"]) == ({"applied": 2}, "w1", 1.0)
    assert asset_view(oven, None, now=1.0)["health"] == "unknown"


def test_a_trend_is_the_tags_window_means_oldest_first():
    windows = {window_key("oven-1", "temperature", s): {"mean": m} for s, m in [(20.0, 3.0), (10.0, 2.0), (0.0, 1.0)]}
    windows[window_key("oven-1", "heater_power", 0.0)] = {"mean": 9.0}
    windows[index_key("oven-1", "temperature")] = {"starts": [0.0, 10.0, 20.0]}
    assert trend(windows, "temperature") == [[0.0, 1.0], [10.0, 2.0], [20.0, 3.0]]
    assert trend(windows, "temperature", points=2) == [[10.0, 2.0], [20.0, 3.0]]


def test_a_page_that_cannot_keep_up_is_dropped_and_the_others_still_get_everything():
    async def scenario():
        hub = Hub(queue_size=2)
        slow, fast = hub.join(), hub.join()
        for i in range(3):
            hub.publish("asset", {"i": i})
            await fast.get()
        assert not hub.joined(slow) and hub.joined(fast)
        assert hub.pages == 1
    asyncio.run(scenario())
