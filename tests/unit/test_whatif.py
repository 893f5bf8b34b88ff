"""What-if's pure parts: pairing commands by id, spans, and proposed rule parameters."""

from __future__ import annotations

import pytest
import yaml

from agents.control import rules_by_asset
from agents.shadow import compare, step
from factory_app import events
from factory_app.config import load_plant
from factory_app.config.rule_edits import parse_set, with_rule_params
from factory_app.command_diff import diff
from factory_app.replay.whatif import in_span, summarize
from harness.plant import REPO


def cmd(cause: str, value: float, t: float = 100.0, rule: str = "r", deadline: float = 5.0) -> events.Command:
    cid = events.command_id(rule, cause, "oven-1.heater_power")
    return events.Command(event_id=cid, command_id=cid, asset_id="oven-1", event_time=t, action="write",
                          target="heater_power", value=value, cause_event_id=cause, rule=rule, deadline=t + deadline)


def test_commands_pair_by_id_into_added_removed_and_changed():
    current = [cmd("e1", 40.0), cmd("e2", 0.0), cmd("e3", 40.0)]
    proposed = [cmd("e1", 40.0), cmd("e3", 45.0), cmd("e4", 45.0)]
    d = diff(current, proposed)
    assert [c.cause_event_id for c in d.only_a] == ["e2"]
    assert [c.cause_event_id for c in d.only_b] == ["e4"]
    assert [(a.value, b.value) for a, b in d.changed] == [(40.0, 45.0)]
    assert diff(current, list(reversed(current))).empty


def test_a_deadline_alone_is_a_change():
    assert len(diff([cmd("e1", 40.0)], [cmd("e1", 40.0, deadline=7.0)]).changed) == 1


def test_summary_counts_by_rule_and_keeps_the_first_examples_in_time_order():
    current = [cmd(f"e{i}", 40.0, t=1000.0 - i, rule="a" if i % 2 else "b") for i in range(30)]
    s = summarize(diff(current, []), "current", "proposed")
    assert s["only_current"]["count"] == 30 and s["only_current"]["by_rule"] == {"a": 15, "b": 15}
    times = [ex["time"] for ex in s["only_current"]["first"]]
    assert times == sorted(times) and len(times) == 10


def test_span_is_half_open():
    c = cmd("e", 1.0, t=10.0)
    assert in_span(c, 10.0, 11.0) and not in_span(c, None, 10.0) and in_span(c, None, None)


def test_set_parses_yaml_values_and_refuses_unknown_rules():
    assert parse_set("oven-1-thermostat.on_below=180") == ("oven-1-thermostat", "on_below", 180)
    assert parse_set("x.trip_values=[true, 'jam']") == ("x", "trip_values", [True, "jam"])
    with pytest.raises(ValueError, match="RULE.PARAM=VALUE"):
        parse_set("on_below=180")
    doc = {"rules": [{"name": "t", "on_below": 1}]}
    assert with_rule_params(doc, [("t", "on_below", 2)])["rules"][0]["on_below"] == 2
    assert doc["rules"][0]["on_below"] == 1  # the current document is left alone
    with pytest.raises(ValueError, match="no rule named 'u'"):
        with_rule_params(doc, [("u", "x", 1)])


def test_shadow_comparison_counts_each_decision_by_rule_and_outcome():
    active = [cmd("e1", 40.0, rule="a"), cmd("e1", 0.0, rule="b")]
    shadow = [cmd("e1", 45.0, rule="a"), cmd("e1", 1.0, rule="c")]
    assert compare(active, shadow) == {("a", "changed"): 1, ("b", "active_only"): 1, ("c", "shadow_only"): 1}
    assert compare(active, list(active)) == {("a", "same"): 1, ("b", "same"): 1}


def test_the_shadow_step_keeps_the_comparison_in_its_table_and_returns_only_the_proposals(tmp_path):
    doc = yaml.safe_load((REPO / "config" / "plant.yaml").read_text())
    current = load_plant(REPO / "config" / "plant.yaml")
    path = tmp_path / "proposed.yaml"
    path.write_text(yaml.safe_dump(with_rule_params(doc, [("oven-1-thermostat", "on_value", 45.0)])))
    proposed = load_plant(path)
    state, memory, counted = {}, {}, []
    cold = events.Telemetry(event_id="t1", asset_id="oven-1", event_time=100.0, tag="temperature", value=20.0, seq=1)
    out = step(rules_by_asset(current), rules_by_asset(proposed), state, memory, cold, 0,
               lambda *a: counted.append(a))
    assert [(c.target, c.value) for c in out] == [("heater_power", 45.0)]  # the proposal's, for the shadow topic
    entry = memory["oven-1"]
    assert entry["counts"] == {"oven-1-thermostat": {"changed": 1}} and entry["since"] == 100.0
    assert entry["recent"][0]["active"][0]["value"] == 40.0 and counted == [("oven-1-thermostat", "changed", 1)]
    assert step(rules_by_asset(current), rules_by_asset(proposed), state, memory, cold, 0) == []  # redelivered
