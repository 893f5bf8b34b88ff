"""The fleet view's aggregation across sites (pure)."""

import pytest

from factory_app.mirror.fleet import fleet_rows, indicators

TYPES = {"plant-a": {"press-1": "press", "press-2": "press", "oven-1": "oven"}, "plant-b": {"press-1": "press"}}


def test_rows_keep_the_site_of_same_named_assets():
    rows = fleet_rows({"plant-a": {"press-1": {"machine_state": "running"}},
                       "plant-b": {"press-1": {"machine_state": "faulted", "connection": "connected"}}}, TYPES)
    assert [(r["site"], r["asset"], r["type"], r["machine"]) for r in rows] == \
        [("plant-a", "press-1", "press", "running"), ("plant-b", "press-1", "press", "faulted")]


def entry(seconds, state=None, since=None, until=None, first=None, last=None):
    return {"seconds_in": seconds, "state": state, "since": since, "seen_until": until,
            "first": first or {}, "last": last or {}}


def test_indicators_since_first_seen_are_rated_from_summed_time_and_parts():
    from factory_app.config import Production

    press = Production(ideal_cycle_s=2.0)
    facts = {"plant-a": {"press-1": press, "press-2": press, "oven-1": None}, "plant-b": {"press-1": press}}
    out = indicators({"plant-a": {
        # 100 s closed + the open running interval up to the newest event: 100 s running of 200
        "press-1": entry({"faulted": 100.0}, "running", 100.0, 200.0,
                         {"cycle_counter": 0, "good_parts": 0, "bad_parts": 0},
                         {"cycle_counter": 40, "good_parts": 36, "bad_parts": 4}),
        "press-2": entry({"running": 600.0}, first={"cycle_counter": 0}, last={"cycle_counter": 100}),
        "oven-1": None},
        "plant-b": {"press-1": entry({"idle": 200.0})}}, TYPES, facts)
    a = out["plant-a"]["press"]
    assert a["assets"] == 2
    assert a["availability"] == pytest.approx(700 / 800)  # summed, not the mean of 0.5 and 1.0
    assert a["performance"] == pytest.approx(2.0 * 140 / 700)
    assert a["quality"] == pytest.approx(36 / 40)
    assert out["*"]["press"]["assets"] == 3
    assert out["*"]["press"]["availability"] == pytest.approx(700 / 1000)
    assert out["plant-b"]["press"]["quality"] is None and out["plant-b"]["press"]["availability"] == 0.0
    assert "oven" not in out["plant-a"]  # an asset without an entry yet


def period(start, seconds, made=None):
    return {"start": start, "end": start + 3600.0, "seconds_in": seconds, "made": made}


def test_period_figures_are_rated_from_the_sums_and_commands_counted_by_outcome():
    from factory_app.mirror.fleet import period_indicators

    kpi = {"plant-a": {"press-1": {"periods": [period(0.0, {"running": 3600.0},
                                                      {"good": 90, "bad": 10, "cycles": 100, "ideal_s": 1800.0})]},
                       "press-2": {"periods": [period(0.0, {"running": 900.0, "faulted": 2700.0},
                                                      {"good": 10, "bad": 0, "cycles": 10, "ideal_s": 180.0}),
                                               period(3600.0, {"running": 60.0},
                                                      {"good": 1, "bad": 0, "cycles": 1, "ideal_s": 30.0})]},
                       "oven-1": {"periods": [period(0.0, {"running": 3600.0})]}},
           "plant-b": {"press-1": {"periods": [period(0.0, {"idle": 3600.0},
                                                      {"good": 0, "bad": 0, "cycles": 0, "ideal_s": 0.0})]}}}
    commands = {"plant-a": {"oven-1": {"periods": [{"start": 0.0, "end": 3600.0, "counts": {"applied": 3, "failed": 1}}]}},
                "plant-b": {"press-1": {"periods": [{"start": 0.0, "end": 3600.0, "counts": {"applied": 2}}]}}}
    rows = {(r["site"], r["type"], r["start"]): r for r in period_indicators(kpi, commands, TYPES)}
    a = rows[("plant-a", "press", 0.0)]
    assert a["assets"] == 2
    assert a["availability"] == pytest.approx(4500 / 7200)  # summed time, not the mean of 1.0 and 0.25
    assert a["performance"] == pytest.approx(1980 / 4500)
    assert a["quality"] == pytest.approx(100 / 110)
    assert a["oee"] == pytest.approx(4500 / 7200 * 1980 / 4500 * 100 / 110)
    assert rows[("plant-a", "press", 3600.0)]["assets"] == 1
    oven = rows[("plant-a", "oven", 0.0)]
    assert oven["availability"] == 1.0 and oven["performance"] is None and oven["oee"] is None
    assert oven["commands"] == {"applied": 3, "failed": 1}
    everywhere = rows[("*", "press", 0.0)]
    assert everywhere["assets"] == 3 and everywhere["availability"] == pytest.approx(4500 / 10800)
    assert everywhere["commands"] == {"applied": 2}
    assert [r["site"] for r in period_indicators(kpi, commands, TYPES)][-1] == "*"
