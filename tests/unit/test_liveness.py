"""The liveness watchdog's judgement (factory_app/liveness.py): who is dead, from which beats."""

from __future__ import annotations

from factory_app.liveness import Peer, beat, dead, forget, heard


def test_a_peer_silent_for_the_timeout_is_dead_once_and_only_while_it_is_a_member():
    peers: dict[str, Peer] = {}
    heard(peers, beat("w1", "g", "m1"), "g", "me", now=10.0)
    heard(peers, beat("w2", "g", None), "g", "me", now=10.0)  # not joined yet: nothing to evict
    heard(peers, beat("w3", "g", "m3", leaving=True), "g", "me", now=10.0)  # stopping in order
    heard(peers, beat("me", "g", "m0"), "g", "me", now=10.0)  # its own beats are not a peer's
    heard(peers, beat("w4", "other-group", "m4"), "g", "me", now=10.0)
    heard(peers, b"not json", "g", "me", now=10.0)
    assert sorted(peers) == ["w1", "w2", "w3"]
    assert dead(peers, now=10.9, timeout=1.0, evicted=set()) == []
    assert dead(peers, now=11.0, timeout=1.0, evicted=set()) == [("w1", "m1")]
    assert dead(peers, now=12.0, timeout=1.0, evicted={"m1"}) == []  # already evicted
    heard(peers, beat("w1", "g", "m1b"), "g", "me", now=12.0)  # back, rejoined as a new member
    assert dead(peers, now=12.5, timeout=1.0, evicted={"m1"}) == []
    assert dead(peers, now=13.0, timeout=1.0, evicted={"m1"}) == [("w1", "m1b")]


def test_peers_long_silent_are_forgotten_with_their_evictions():
    peers = {"old": Peer("m-old", heard=0.0), "new": Peer("m-new", heard=95.0)}
    evicted = {"m-old", "m-gone"}
    forget(peers, evicted, now=100.0, keep=60.0)
    assert list(peers) == ["new"] and evicted == set()
