"""Composite table keys are injective: no two (asset, tag, window) share a key."""

from hypothesis import given, strategies as st

from factory_app import events
from tables import keys, windows

parts = st.text(alphabet=st.characters(), max_size=12) | st.sampled_from(["", "|", "%", "%7C", "%25", "a|b", "index"])
starts = st.floats(allow_nan=False, allow_infinity=False)


@given(parts, parts, starts, parts, parts, starts)
def test_window_keys_are_injective(a1, t1, s1, a2, t2, s2):
    same = (a1, t1, s1) == (a2, t2, s2)
    assert (keys.window_key(a1, t1, s1) == keys.window_key(a2, t2, s2)) == same


@given(parts, parts, parts, parts, starts)
def test_index_keys_are_injective_and_never_a_window_key(a1, t1, a2, t2, s):
    assert (keys.index_key(a1, t1) == keys.index_key(a2, t2)) == ((a1, t1) == (a2, t2))
    assert keys.index_key(a1, t1) != keys.window_key(a2, t2, s)


@given(parts, parts, starts)
def test_keys_parse_back(asset, tag, start):
    assert keys.parse_window_key(keys.window_key(asset, tag, start)) == (asset, tag, start)
    assert keys.parse_window_key(keys.index_key(asset, tag)) == (asset, tag, None)


def test_separator_in_ids_cannot_merge_two_series():
    # Before escaping, ("a|b", "c") and ("a", "b|c") shared every key.
    assert keys.index_key("a|b", "c") != keys.index_key("a", "b|c")
    assert keys.window_key("a|b", "c", 0.0) != keys.window_key("a", "b|c", 0.0)


@given(st.floats(min_value=events.EVENT_TIME_MIN, max_value=events.EVENT_TIME_MAX, exclude_max=True),
       st.sampled_from([0.1, 1.0, 10.0, 3600.0]))
def test_windows_at_every_accepted_time_have_their_width(t, size):
    # On 1081d30 a sample at 1e300 made a window with end == start; such times are refused now,
    # and every accepted time gets a window that contains it and has its full width.
    start = windows.window_start(t, size)
    agg = windows.add_sample(None, 1.0, start, size)
    assert start <= t < agg["end"] and agg["end"] - start > 0.99 * size
