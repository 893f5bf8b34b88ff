"""The fleet view's aggregation across sites (pure)."""

import pytest

from factory_app.mirror.fleet import fleet_rows, indicators

TYPES = {"plant-a": {"press-1": "press", "press-2": "press", "oven-1": "oven"}, "plant-b": {"press-1": "press"}}


def test_rows_keep_the_site_of_same_named_assets():
    rows = fleet_rows({"plant-a": {"press-1": {"machine_state": "running"}},
                       "plant-b": {"press-1": {"machine_state": "faulted", "connection": "connected"}}}, TYPES)
    assert [(r["site"], r["asset"], r["type"], r["machine"]) for r in rows] == \
        [("plant-a", "press-1", "press", "running"), ("plant-b", "press-1", "press", "faulted")]


def test_indicators_per_site_and_across_sites():
    out = indicators({"plant-a": {"press-1": {"availability": 0.8, "oee": 0.5}, "press-2": {"availability": 0.6},
                                  "oven-1": None},
                      "plant-b": {"press-1": {"availability": 1.0, "oee": 0.7}}}, TYPES)
    assert out["plant-a"]["press"]["assets"] == 2
    assert out["plant-a"]["press"]["availability"] == pytest.approx(0.7)
    assert out["plant-a"]["press"]["oee"] == pytest.approx(0.5)  # press-2 has none yet: not counted as 0
    assert out["*"]["press"]["availability"] == pytest.approx(0.8)
    assert out["*"]["press"]["oee"] == pytest.approx(0.6)
    assert out["plant-b"]["press"]["quality"] is None
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
