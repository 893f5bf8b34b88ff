import pytest

from factory_app.config import Production
from factory_app.events import StateTransition, Telemetry
from tables.availability import apply_availability

PRESS = Production(ideal_cycle_s=2.0)


def st(to, t):
    return StateTransition(event_id=f"s{t}", asset_id="p", event_time=float(t), kind="machine", to_state=to)


def tel(tag, v, t):
    return Telemetry(event_id=f"t{tag}{t}", asset_id="p", event_time=float(t), tag=tag, value=v)


def fold(evs, production=PRESS):
    e = None
    for ev in evs:
        e = apply_availability(e, ev, production)
    return e


def test_availability_counts_time_in_states_including_the_open_one():
    e = fold([st("running", 0), st("faulted", 80), st("running", 100), tel("cycle_counter", 0, 100),
              tel("cycle_counter", 40, 200)])
    assert e["seconds_in"] == {"running": 80.0, "faulted": 20.0}
    assert e["availability"] == pytest.approx(180 / 200)  # the open running interval counts up to t=200


def test_quality_and_performance_from_counter_deltas():
    e = fold([st("running", 0), tel("good_parts", 100, 0), tel("bad_parts", 10, 0), tel("cycle_counter", 110, 0),
              tel("good_parts", 145, 100), tel("bad_parts", 15, 100), tel("cycle_counter", 160, 100)])
    assert e["quality"] == pytest.approx(45 / 50)
    assert e["performance"] == pytest.approx(2.0 * 50 / 100)
    assert e["oee"] == pytest.approx(1.0 * 1.0 * 0.9)


def test_other_tags_alone_make_no_entry():
    assert fold([tel("temperature", 20.0, 1)]) is None


def test_the_counters_and_cycle_time_are_the_plant_files():
    renamed = Production(ideal_cycle_s=4.0, cycle_counter="strokes", good_counter="ok", bad_counter=None)
    e = fold([st("running", 0), tel("strokes", 0, 0), tel("ok", 0, 0), tel("strokes", 20, 100), tel("ok", 20, 100),
              tel("cycle_counter", 99, 100)], renamed)
    assert e["performance"] == pytest.approx(4.0 * 20 / 100)
    assert e["quality"] == pytest.approx(1.0)  # no bad counter: every counted part was good
    assert "cycle_counter" not in e["last"]


def test_an_asset_without_production_facts_gets_availability_only():
    e = fold([st("running", 0), tel("cycle_counter", 0, 0), tel("cycle_counter", 50, 100), st("idle", 100)], None)
    assert e["availability"] == pytest.approx(1.0)
    assert e["performance"] is None and e["quality"] is None and e["oee"] is None


def test_a_mirrors_resent_run_is_not_counted_twice():
    # A mirror killed mid-run re-sends a run of records at new offsets (at-least-once): the
    # central fold meets them again after their originals. The event-id guard skips them.
    from agents.availability import step

    evs = [st("running", 0), st("faulted", 80), st("running", 100), tel("cycle_counter", 40, 200)]
    central_log = evs + evs[1:]  # the last three re-sent
    exact, guarded, unguarded = {}, {}, {}
    for offset, ev in enumerate(evs):
        step(exact, ev, PRESS, offset=offset, horizon=32)
    for offset, ev in enumerate(central_log):
        step(guarded, ev, PRESS, offset=offset, horizon=32)
        step(unguarded, ev, PRESS, offset=offset)
    assert guarded["p"]["seconds_in"] == exact["p"]["seconds_in"] == {"running": 80.0, "faulted": 20.0}
    assert unguarded["p"]["seconds_in"] != exact["p"]["seconds_in"]  # why the guard is needed
