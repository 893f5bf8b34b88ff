"""Composite table keys are injective: no two (asset, tag, window) share a key."""

from hypothesis import given, strategies as st

from tables import windows

parts = st.text(alphabet=st.characters(), max_size=12) | st.sampled_from(["", "|", "%", "%7C", "%25", "a|b", "index"])
starts = st.floats(allow_nan=False, allow_infinity=False)


@given(parts, parts, starts, parts, parts, starts)
def test_window_keys_are_injective(a1, t1, s1, a2, t2, s2):
    same = (a1, t1, s1) == (a2, t2, s2)
    assert (windows.window_key(a1, t1, s1) == windows.window_key(a2, t2, s2)) == same


@given(parts, parts, parts, parts, starts)
def test_index_keys_are_injective_and_never_a_window_key(a1, t1, a2, t2, s):
    assert (windows.index_key(a1, t1) == windows.index_key(a2, t2)) == ((a1, t1) == (a2, t2))
    assert windows.index_key(a1, t1) != windows.window_key(a2, t2, s)


@given(parts, parts, starts)
def test_keys_parse_back(asset, tag, start):
    assert windows.parse_key(windows.window_key(asset, tag, start)) == (asset, tag, start)
    assert windows.parse_key(windows.index_key(asset, tag)) == (asset, tag, None)


def test_separator_in_ids_cannot_merge_two_series():
    # Before escaping, ("a|b", "c") and ("a", "b|c") shared every key.
    assert windows.index_key("a|b", "c") != windows.index_key("a", "b|c")
    assert windows.window_key("a|b", "c", 0.0) != windows.window_key("a", "b|c", 0.0)
