import math

from factory_app.events import StateTransition, Telemetry
from tables import windows
from tables.asset_state import apply_event


def t(seq, tag="temp", value=1.0, at=None, asset="a"):
    return Telemetry(event_id=f"e{seq}", asset_id=asset, event_time=float(seq if at is None else at), tag=tag,
                     value=value, seq=seq)


def test_last_value_wins_in_log_order_even_if_older():
    s = apply_event(None, t(1, value=1.0, at=10))
    s = apply_event(s, t(2, value=2.0, at=5))  # later in the log, earlier in event time
    assert s["tags"]["temp"]["value"] == 2.0
    assert s["last_event_time"] == 10
    assert s["events"] == 2


def test_apply_event_does_not_mutate_input():
    s1 = apply_event(None, t(1))
    snapshot = {**s1, "tags": dict(s1["tags"])}
    apply_event(s1, t(2, tag="speed"))
    assert s1 == snapshot


def test_transitions_update_connection_and_machine_state():
    s = apply_event(None, StateTransition(event_id="x", asset_id="a", event_time=1, kind="connection",
                                          to_state="connected"))
    s = apply_event(s, StateTransition(event_id="y", asset_id="a", event_time=2, kind="machine",
                                       to_state="faulted"))
    assert (s["connection"], s["machine_state"]) == ("connected", "faulted")


def test_window_start_boundaries():
    assert windows.window_start(0.0, 10) == 0
    assert windows.window_start(9.999, 10) == 0
    assert windows.window_start(10.0, 10) == 10
    assert windows.window_start(-0.5, 10) == -10


def test_add_sample_aggregates():
    agg = None
    for v in (3.0, 1.0, 5.0):
        agg = windows.add_sample(agg, v, 0.0, 10.0)
    assert (agg["count"], agg["min"], agg["max"], agg["last"]) == (3, 1.0, 5.0, 5.0)
    assert math.isclose(agg["mean"], 3.0)


def test_retain_evicts_oldest_and_refuses_too_late():
    idx, ev, ok = [], [], True
    for start in (0, 10, 20):
        idx, ev, ok = windows.retain(idx, start, 2)
    assert idx == [10, 20] and ev == [0] and ok
    assert windows.retain(idx, 0, 2) == ([10, 20], [], False)
    assert windows.retain(idx, 15, 2) == ([15, 20], [10], True)  # late but newer than the oldest


def test_numeric():
    assert windows.numeric(True) == 1.0 and windows.numeric(3) == 3.0 and windows.numeric("x") is None
