"""The pure parts of snapshots and bounded reads: which point, which ledgers, which offsets."""

from __future__ import annotations

from aiokafka import TopicPartition

from factory_app.snapshots.bounded import after_the_stop, choose_point, ledger_chain, past_the_bound
from factory_app.snapshots.build import late_entry
from factory_app.snapshots.store import Ledger, Point, SnapshotStore, hwm_ms

TP = TopicPartition("t", 0)


def test_a_point_is_usable_only_if_everything_it_folded_is_at_or_before_the_instant():
    points = [Point(100, 0, 10_000), Point(200, 1, 20_000), Point(300, 1, 30_001)]
    assert choose_point(points, 30.0, None) == Point(200, 1, 20_000)
    assert choose_point(points, 30.001, None) == Point(300, 1, 30_001)
    assert choose_point(points, 9.999, None) is None
    assert choose_point(points, None, 250) == Point(200, 1, 20_000)
    assert choose_point([Point(50, 0, -1)], 1.0, None) == Point(50, 0, -1)  # nothing folded yet


def test_hwm_ms_rounds_up_so_a_point_named_at_t_never_folded_after_t():
    assert hwm_ms(1.0005) == 1001 and hwm_ms(2.0) == 2000 and hwm_ms(None) == -1
    assert not Point(0, 0, hwm_ms(10.0004)).at_or_before(10.0)


def test_late_is_judged_against_the_topics_event_time_so_far_not_the_record_time():
    assert not late_entry(100.0, None, 0.2)  # the first event of a topic partition
    assert not late_entry(100.0, 100.1, 0.2)
    assert late_entry(100.0, 100.2, 0.2)
    # A read for T stops once the topic carried T + lateness: everything at or before T after that is late.
    for t in (100.0, 99.0):
        assert past_the_bound(100.2, t, 0.2) and late_entry(t, 100.2, 0.2)
    assert not past_the_bound(100.2, 100.05, 0.2) and not past_the_bound(None, 100.0, 0.2)


def test_the_ledger_chain_follows_ends_to_starts_and_stops_at_a_gap():
    g1 = Ledger(Point(0, 0, -1), Point(10, 1, 5), -1)
    g2 = Ledger(Point(10, 1, -1), Point(20, 1, 9), 7)
    g3 = Ledger(Point(30, 2, -1), Point(40, 2, 12), 11)  # after a gap (its predecessor is missing)
    chain, covered = ledger_chain([g1, g2, g3], None)
    assert chain == [g1, g2] and covered == (20, 1)
    chain, covered = ledger_chain([g1, g2, g3], Point(10, 1, 5))
    assert chain == [g2] and covered == (20, 1)
    assert ledger_chain([g3], Point(10, 1, 5)) == ([], (10, 1))


def test_a_read_that_stopped_needs_the_ledgers_offsets_from_its_stop_to_their_cover():
    assert after_the_stop([50, 399, 400, 650, 700, 701], stop=400, covered=700) == [400, 650]
    assert after_the_stop([750], stop=800, covered=700) == []


def test_store_names_round_trip_and_a_rewrite_replaces_another_fingerprint(tmp_path):
    store = SnapshotStore(tmp_path)
    p = Point(12, 3, 45_000)
    store.write_snapshot(0, p, "telemetry-state", "aaaa", {"tables": {}})
    store.mark_verified(0, p, "telemetry-state", "aaaa")
    store.write_snapshot(0, p, "telemetry-state", "bbbb", {"tables": {"asset_state": {}}})
    assert store.points(0, "telemetry-state", "aaaa") == []
    assert not store.verified_path(0, p, "telemetry-state", "aaaa").exists()  # no mark left for a gone file
    assert store.points(0, "telemetry-state", "bbbb") == [p]
    g = Ledger(Point(0, 0, -1), p, 44_000)
    store.write_ledger(0, g, 200, [[0, 5, 44.0]])
    assert store.ledgers(0, 200) == [g] and store.ledgers(0, 100) == []
    assert store.read_ledger(0, g, 200) == [[0, 5, 44.0]]
    assert not list(tmp_path.rglob(".*"))  # no temporary file left


def test_thinning_keeps_the_recent_span_whole_and_the_newest_point_of_each_older_interval():
    from factory_app.snapshots.thinning import to_thin

    points = [Point(10 * i, 0, 1000 * i) for i in range(12)]  # a point a second, newest at 11 s
    dropped = to_thin(points, keep_all_ms=3000, every_ms=4000)
    # Older than 8 s: 0..7 s; buckets [0,4) keeps 3 s, [4,8) keeps 7 s.
    assert dropped == [Point(10 * i, 0, 1000 * i) for i in (0, 1, 2, 4, 5, 6)]
    assert to_thin(points[:1], 0, 1000) == [] and to_thin([], 0, 1) == []


def test_merged_runs_span_every_dropped_point_and_keep_the_earliest_late_event():
    from factory_app.snapshots.thinning import merge_runs, merged

    pts = [Point(10 * i, i, 1000 * i) for i in range(5)]
    chain = [Ledger(Point(pts[i].telemetry, pts[i].actions, -1), pts[i + 1], m)
             for i, m in zip(range(4), (-1, 1500, 900, -1))]
    runs = merge_runs(chain, {pts[2], pts[3]})
    assert [len(r) for r in runs] == [1, 3]
    assert merged(runs[1]) == Ledger(chain[1].start, pts[4], 900)
    assert merged(runs[0]) == chain[0]


def test_a_thinning_stopped_after_its_merge_is_finished_by_the_next(tmp_path):
    from factory_app.snapshots.thinning import thin_partition

    store = SnapshotStore(tmp_path)
    pts = [Point(10 * i, 0, 1000 * i) for i in range(4)]
    chain = [Ledger(Point(pts[i].telemetry, 0, -1), pts[i + 1], -1) for i in range(3)]
    for g in chain:
        store.write_ledger(0, g, 200, [])
        store.write_snapshot(0, g.to, "telemetry-state", "aaaa", {"tables": {}})
    # Stopped after writing the ledger merged across pts[1], before dropping anything.
    store.write_ledger(0, Ledger(chain[0].start, pts[2], -1), 200, [])
    assert thin_partition(store, 0, 200, keep_all_s=1e9, every_s=1.0) == 0  # nothing old enough to thin
    assert store.points(0, "telemetry-state", "aaaa") == [pts[2], pts[3]]
    assert store.ledgers(0, 200) == [Ledger(chain[0].start, pts[2], -1), chain[2]]
