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
