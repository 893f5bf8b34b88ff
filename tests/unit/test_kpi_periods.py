"""OEE per event-time period (tables/kpi_periods.py, agents/kpi_periods.py)."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from agents.kpi_periods import step
from factory_app.config import Production
from factory_app.events import StateTransition, Telemetry
from tables.availability import apply_availability
from tables.kpi_periods import apply_kpi_periods, split_interval

PRESS = Production(ideal_cycle_s=2.0)
HOUR = 3600.0


def st(to, t, asset="p"):
    return StateTransition(event_id=f"s{t}", asset_id=asset, event_time=float(t), kind="machine", to_state=to)


def tel(tag, v, t, asset="p"):
    return Telemetry(event_id=f"t{tag}{t}", asset_id=asset, event_time=float(t), tag=tag, value=v)


def fold(evs, production=PRESS, size=HOUR, keep=48):
    e = None
    for ev in evs:
        e = apply_kpi_periods(e, ev, production, size, keep)
    return e


def by_start(entry):
    return {p["start"]: p for p in entry["periods"]}


@given(hs.floats(0, 1e6), hs.floats(0, 1e5), hs.sampled_from([60.0, 900.0, 3600.0]))
def test_an_interval_splits_into_its_periods_exactly(begin, length, size):
    parts = split_interval(begin, begin + length, size, keep=10**9)
    assert sum(parts.values()) == pytest.approx(length, abs=1e-6)
    assert all(s > 0 for s in parts.values())
    assert all(start == pytest.approx(round(start / size) * size) for start in parts)


def test_a_boundary_belongs_to_the_period_it_opens():
    assert split_interval(0.0, HOUR, HOUR, 48) == {0.0: HOUR}
    assert split_interval(HOUR, 2 * HOUR + 1, HOUR, 48) == {HOUR: HOUR, 2 * HOUR: 1.0}


def test_a_long_run_fills_every_period_it_spans():
    e = fold([st("running", 1800), st("faulted", 3 * HOUR + 600), st("running", 3 * HOUR + 1200)])
    periods = by_start(e)
    assert periods[0.0]["seconds_in"] == {"running": 1800.0}
    assert periods[HOUR]["seconds_in"] == periods[2 * HOUR]["seconds_in"] == {"running": HOUR}
    assert periods[3 * HOUR]["seconds_in"] == {"running": 600.0, "faulted": 600.0}
    assert periods[3 * HOUR]["availability"] == pytest.approx(0.5)
    assert periods[HOUR]["availability"] == 1.0


def test_parts_count_in_the_period_of_the_event_that_saw_them_and_a_reset_counts_from_zero():
    e = fold([st("running", 0), tel("cycle_counter", 100, 10), tel("good_parts", 90, 10), tel("bad_parts", 10, 10),
              tel("cycle_counter", 400, HOUR - 1), tel("good_parts", 380, HOUR - 1), tel("bad_parts", 20, HOUR - 1),
              tel("cycle_counter", 5, HOUR + 100), tel("good_parts", 5, HOUR + 100)])  # the PLC reset its counters
    first, second = by_start(e)[0.0], by_start(e)[HOUR]
    assert first["made"] == {"good": 290.0, "bad": 10.0, "cycles": 300.0, "ideal_s": 600.0}
    assert first["quality"] == pytest.approx(290 / 300)
    assert first["performance"] == pytest.approx(600 / HOUR)  # running up to the next event, at HOUR + 100
    assert second["made"]["cycles"] == 5.0 and second["made"]["good"] == 5.0
    assert second["seconds_in"] == {"running": 100.0}


def test_the_periods_add_up_to_the_cumulative_analytic():
    # Same events, no resets: the periods' sums are the whole history's (tables.availability).
    rng = random.Random(7)
    evs, t, counter, good = [], 0.0, 0, 0
    for _ in range(400):
        t += rng.uniform(1, 900)
        if rng.random() < 0.2:
            evs.append(st(rng.choice(["running", "idle", "faulted"]), t))
        else:
            counter += rng.randint(0, 30)
            good += rng.randint(0, 20)
            evs.append(tel(rng.choice(["cycle_counter", "good_parts"]), counter if rng.random() < .5 else good, t))
            evs[-1] = tel("cycle_counter", counter, t) if evs[-1].tag == "cycle_counter" else tel("good_parts", good, t)
    periods = fold(evs, keep=10_000)["periods"]
    cumulative = None
    for ev in evs:
        cumulative = apply_availability(cumulative, ev, PRESS)
    total: dict[str, float] = {}
    for p in periods:
        for state, s in p["seconds_in"].items():
            total[state] = total.get(state, 0.0) + s
    want = dict(cumulative["seconds_in"])
    want[cumulative["state"]] = want.get(cumulative["state"], 0.0) + cumulative["seen_until"] - cumulative["since"]
    assert total.keys() == want.keys() and all(total[k] == pytest.approx(want[k]) for k in want)
    cycles = sum(p["made"]["cycles"] for p in periods)
    assert cycles == cumulative["last"]["cycle_counter"] - cumulative["first"]["cycle_counter"]


def test_only_the_newest_periods_are_kept_and_an_older_part_is_dropped():
    e = fold([st("running", 0), st("idle", 10 * HOUR)], keep=3)
    assert [p["start"] for p in e["periods"]] == [7 * HOUR, 8 * HOUR, 9 * HOUR]
    e = apply_kpi_periods(e, tel("cycle_counter", 1, 2 * HOUR), PRESS, HOUR, 3)  # first sight: no part
    e = apply_kpi_periods(e, tel("cycle_counter", 9, 2 * HOUR + 1), PRESS, HOUR, 3)  # its period is gone
    assert [p["start"] for p in e["periods"]] == [7 * HOUR, 8 * HOUR, 9 * HOUR]
    assert all(p["made"]["cycles"] == 0 for p in e["periods"])


def test_time_never_runs_back_and_other_tags_alone_make_no_entry():
    assert fold([tel("temperature", 20.0, 1)]) is None
    e = fold([st("running", 100), st("idle", 50), st("running", 200)])
    assert by_start(e)[0.0]["seconds_in"] == {"idle": 100.0}  # the late "idle" took over at 100, added no time


def test_an_asset_without_production_facts_gets_availability_only():
    e = fold([st("running", 0), tel("cycle_counter", 0, 0), tel("cycle_counter", 50, 100), st("idle", 100)], None)
    (period,) = e["periods"]
    assert period["made"] is None and period["availability"] == 1.0 and period["oee"] is None


def test_a_mirrors_resent_run_is_not_counted_twice():
    evs = [st("running", 0), tel("cycle_counter", 10, 50), st("faulted", 80), tel("cycle_counter", 30, 90),
           st("running", 100), tel("cycle_counter", 40, 200)]
    central_log = evs + evs[2:]  # a killed mirror re-sent the last four at new offsets
    exact, guarded, unguarded = {}, {}, {}
    for offset, ev in enumerate(evs):
        step(exact, ev, PRESS, HOUR, 48, offset=offset, horizon=32)
    for offset, ev in enumerate(central_log):
        step(guarded, ev, PRESS, HOUR, 48, offset=offset, horizon=32)
        step(unguarded, ev, PRESS, HOUR, 48, offset=offset)
    assert guarded["p"]["periods"] == exact["p"]["periods"]
    assert unguarded["p"]["periods"] != exact["p"]["periods"]
    before = dict(guarded)
    step(guarded, evs[-1], PRESS, HOUR, 48, offset=len(central_log) - 1, horizon=32)  # a redelivery by offset
    assert guarded == before
