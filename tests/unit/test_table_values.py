"""Every value the folds write has the shape its struct declares (tables/values.py), and every
key is built and parsed by tables/keys.py. A fold that grows a field its struct does not
declare, or writes a value of another type, fails here."""

from __future__ import annotations

import random

import msgspec
import pytest

from factory_app import events
from factory_app.config import load_plant
from factory_app.replay.log_reader import Record
from factory_app.replay.projections import folds
from factory_app.settings import Settings
from harness.plant import REPO
from tables import keys, values


def generated_log(n: int = 3000, seed: int = 7) -> list[tuple[str, events.AnyEvent]]:
    """(logical topic, event) of every kind the folds accept, on the shipped plant's assets."""
    rng = random.Random(seed)
    assets = ["oven-1", "conveyor-1", "press-1", "press-2"]
    out = []
    for i in range(n):
        asset, t = rng.choice(assets), 1_000_000.0 + i * 0.9
        pick = rng.random()
        if pick < 0.6:
            tag, value = rng.choice([("temperature", rng.uniform(20, 200)), ("state", rng.choice(["running", "faulted"])),
                                     ("good_parts", i), ("bad_parts", i // 10), ("cycle_counter", i),
                                     ("fault_active", rng.random() < 0.2), ("jammed", False)])
            out.append((events.TELEMETRY, events.Telemetry(event_id=f"t{i}", asset_id=asset, event_time=t, tag=tag,
                                                           value=value, seq=i, quality=rng.choice(["good", "bad"]))))
        elif pick < 0.75:
            kind = rng.choice(["connection", "machine"])
            to = {"connection": "connected", "machine": rng.choice(["running", "idle"])}[kind]
            out.append((events.TELEMETRY, events.StateTransition(event_id=f"s{i}", asset_id=asset, event_time=t,
                                                                 kind=kind, to_state=to)))
        elif pick < 0.8:
            out.append((events.OPERATOR_ACTIONS, events.ModeChange(
                event_id=f"m{i}", asset_id=asset, event_time=t, mode=rng.choice(["manual", "auto"]),
                operator="operator", reason=rng.choice(["", "maintenance"]))))
        else:
            cid = f"c{i // 2}"
            if i % 2 == 0:
                out.append((events.COMMANDS, events.Command(event_id=cid, asset_id=asset, event_time=t, command_id=cid,
                                                            action="write", target="heater_power", value=10.0,
                                                            cause_event_id=f"t{i}", rule="r", deadline=t + 5)))
            else:
                out.append((events.COMMAND_RESULTS, events.CommandResult(
                    event_id=f"r{i}", asset_id=asset, event_time=t, command_id=cid,
                    status=rng.choice(["applied", "conflict", "failed"]), detail="d")))
    return out


@pytest.fixture(scope="module")
def folded(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("values"), window_retention=5,
                        shadow_plant=REPO / "config" / "plant.yaml")
    plant = load_plant(REPO / "config" / "plant.yaml")
    made = {name: make() for name, make in folds(settings, plant).items()}
    offsets: dict[tuple[str, int], int] = {}
    for topic, event in generated_log():
        partition = hash(event.asset_id) % 4
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        record = Record(settings.topic(topic), partition, offset, int(event.event_time * 1000),
                        event.asset_id.encode(), events.encode(event))
        for fold in made.values():
            if topic in fold.sources:
                fold.feed(record)
    return {table: content for fold in made.values() for table, content in fold.merged().items()}


def test_every_table_of_every_processor_has_a_declared_shape(folded):
    assert set(folded) == set(values.SCHEMAS)
    assert all(folded[t] for t in folded), [t for t in folded if not folded[t]]


def test_every_stored_value_converts_to_its_struct(folded):
    for table, content in folded.items():
        for key, value in content.items():
            typed = values.domain(table, value, key)
            assert typed is not None, (table, key)


def test_views_show_no_redelivery_bookkeeping(folded):
    state = next(iter(folded["asset_state"].values()))
    assert "offset" in state and "recent_ids" in state  # the fold keeps them ...
    shown = values.public("asset_state", state)
    assert not values.BOOKKEEPING & set(shown)  # ... a view does not show them
    assert shown["tags"] and set(shown["tags"][next(iter(shown["tags"]))]) == {"value", "quality", "event_time", "seq"}


def test_a_value_of_another_shape_is_refused_naming_the_field(folded):
    key, state = next(iter(folded["asset_state"].items()))
    with pytest.raises(msgspec.ValidationError, match="unknown field `colour`"):
        values.domain("asset_state", {**state, "colour": "red"})
    with pytest.raises(msgspec.ValidationError, match=r"\$.events"):
        values.domain("asset_state", {**state, "events": "many"})


def test_window_keys_parse_back_and_say_which_struct_they_hold(folded):
    for key, value in folded["tag_windows"].items():
        asset, tag, start = keys.parse_window_key(key)
        if start is None:
            assert key == keys.index_key(asset, tag) and isinstance(values.domain("tag_windows", value, key),
                                                                     values.WindowIndexV1)
        else:
            assert key == keys.window_key(asset, tag, start) and value["start"] == start


def test_the_terminal_tables_render_what_the_views_serve(folded):
    from rich.console import Console

    from factory_app.render import commands_table, state_table

    states = {k: values.public("asset_state", v) for k, v in folded["asset_state"].items()}
    entries = [values.public("command_ledger", v) for v in list(folded["command_ledger"].values())[:5]]
    console = Console(width=200, record=True)
    console.print(state_table(states), commands_table(entries))
    text = console.export_text()
    assert all(asset in text for asset in states) and "heater_power" in text and "temperature" in text
    with pytest.raises(msgspec.ValidationError, match="tags"):
        state_table({"x": {"asset_id": "x"}})
