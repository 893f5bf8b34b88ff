"""Snapshots and bounded history reads on a real broker: state-at from snapshots equals the fold from offset 0.

The log holds what a plant's log holds: events stamped a moment before their append, late
ones (a buffered PLC, seconds behind), future-stamped ones inside and beyond the clock
tolerance, exact duplicates re-sent later, operators' mode changes, and a tail appended
after the snapshots were built. Every instant asked is answered twice, from the snapshots
and from offset 0, and the answers must be equal; the bounded read must also read less.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from factory_app import events
from factory_app.producer import new_producer
from factory_app.replay.state_at import Reads, state_at, state_at_from_start
from factory_app.snapshots.build import SnapshotBuilder
from factory_app.snapshots.store import SnapshotStore, pack_tables, unpack_tables

pytestmark = pytest.mark.integration

ASSETS = [f"m{i}" for i in range(24)]


async def produce_rounds(settings, rounds: int, per_round: int, rng: random.Random, first: int = 0) -> list:
    """``rounds`` batches of events; each batch waits for the broker's clock (its append times) to
    move on from the last one, so record times spread over the log as a plant's do."""
    producer = new_producer(settings, linger_ms=5)
    await producer.start()
    sent, resend, last_ts = [], [], 0
    try:
        for r in range(rounds):
            while time.time() * 1000 < last_ts + 40:  # the broker's clock moves on between rounds
                await asyncio.sleep(0.005)
            futures = []
            now = time.time()
            for j in range(per_round):
                n = first + r * per_round + j
                asset = rng.choice(ASSETS)
                kind = rng.random()
                if kind < 0.03 and resend:
                    key, raw, topic = rng.choice(resend)  # an exact duplicate, later in the log
                elif kind < 0.06:
                    ev = events.ModeChange(event_id=f"mc{n}", asset_id=asset, event_time=now - rng.uniform(0, 0.05),
                                           mode=rng.choice(["auto", "manual"]), operator="op", reason="test")
                    key, raw, topic = asset.encode(), events.encode(ev), events.OPERATOR_ACTIONS
                else:
                    skew = -rng.uniform(0, 0.02)
                    if kind < 0.16:
                        skew = -rng.uniform(1.0, 3.0)  # late: a PLC's buffer flushed
                    elif kind < 0.19:
                        skew = rng.uniform(0.5, 2.0)  # future-stamped, inside the tolerance
                    elif kind < 0.20:
                        skew = 600.0  # beyond the tolerance: dead-lettered live, skipped by every fold
                    ev = events.Telemetry(event_id=f"e{n}", asset_id=asset, event_time=now + skew,
                                          tag=rng.choice(["t", "p", "s"]), value=round(rng.uniform(0, 100), 2))
                    key, raw, topic = asset.encode(), events.encode(ev), events.TELEMETRY
                    if rng.random() < 0.1:
                        resend.append((key, raw, topic))
                futures.append(await producer.send(settings.topic(topic), raw, key=key))
                sent.append(raw)
            metas = [await f for f in futures]
            last_ts = max(m.timestamp for m in metas)
    finally:
        await producer.stop()
    return sent


def event_times(raws: list[bytes]) -> list[float]:
    return sorted(events.decode(r).event_time for r in raws)


def test_state_at_from_snapshots_equals_the_fold_from_offset_0(kafka, tmp_path):
    from tests.conftest import isolated_settings

    settings = isolated_settings(kafka.cfg.bootstrap, tmp_path, snapshot_every_events=40, history_lateness=0.2)
    rng = random.Random(7)
    sent = asyncio.run(produce_rounds(settings, 30, 100, rng))
    builder = SnapshotBuilder(settings, None)
    written = asyncio.run(builder.run_once())
    assert written >= 8 * 3  # every partition has points
    store = SnapshotStore(settings.snapshots_dir)
    assert len(store.partitions()) == 8 and store.ledgers(store.partitions()[0], 200)
    # A tail no snapshot covers yet, late events among it.
    sent += asyncio.run(produce_rounds(settings, 6, 100, rng, first=10_000))

    times = event_times(sent)
    instants = [times[0] - 1.0] + [times[int(q * (len(times) - 1))] for q in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)]
    instants += [times[-1], times[-1] + 3600]
    total = sum(1 for _ in sent)
    early_reads = None
    for at in instants:
        reads = Reads()
        bounded = asyncio.run(state_at(settings, at, reads=reads))
        reference = asyncio.run(state_at_from_start(settings, at))
        assert bounded == reference, at
        assert reads.read <= total
        if at == instants[2]:
            early_reads = reads
    assert early_reads is not None and early_reads.read < total * 0.6, early_reads
    assert any(p["snapshot"] for p in early_reads.partitions.values())
    assert any(p["late"] for p in early_reads.partitions.values())  # read by offset from the ledgers

    # One asset, and offsets with and without an instant: the same equality.
    mid = instants[4]
    for asset in ASSETS[:4]:
        assert asyncio.run(state_at(settings, mid, asset=asset)) == asyncio.run(
            state_at_from_start(settings, mid, asset=asset))
    until = {p: 50 + 20 * p for p in range(8)}
    assert asyncio.run(state_at(settings, None, until)) == asyncio.run(state_at_from_start(settings, None, until))
    assert asyncio.run(state_at(settings, mid, {0: 120})) == asyncio.run(state_at_from_start(settings, mid, {0: 120}))
    # And the read that ignores the snapshots.
    assert asyncio.run(state_at(settings, mid, full=True)) == asyncio.run(state_at_from_start(settings, mid))


def test_a_builder_resumes_where_its_snapshots_end(kafka, tmp_path):
    """A second builder (a restart) goes on from the newest complete point and writes the same
    files a single run would have: the content of a name is a function of the log."""
    from factory_app.snapshots.build import fingerprints, snapshotted
    from tests.conftest import isolated_settings

    settings = isolated_settings(kafka.cfg.bootstrap, tmp_path / "a", snapshot_every_events=30, history_lateness=0.2)
    rng = random.Random(11)
    asyncio.run(produce_rounds(settings, 8, 100, rng))
    first = SnapshotBuilder(settings, None)
    asyncio.run(first.run_once())
    asyncio.run(produce_rounds(settings, 8, 100, rng, first=5000))
    asyncio.run(first.run_once())  # the same process, a second round
    once = {f.relative_to(settings.snapshots_dir): f.read_bytes() for f in settings.snapshots_dir.rglob("*.*")}

    other = settings.updated({"snapshot_dir": tmp_path / "b"})
    split = SnapshotBuilder(other, None)
    asyncio.run(split.run_once())
    # Throw away the newest point of every partition: a builder killed while writing it.
    store = SnapshotStore(other.snapshots_dir)
    fp = fingerprints(other, None, snapshotted(other, None))["telemetry-state"]
    for p in store.partitions():
        points = set(store.points(p, "telemetry-state", fp))
        newest = [g for g in store.ledgers(p, 200) if g.to in points][-1]
        store.ledger_path(p, newest, 200).unlink()
    again = SnapshotBuilder(other, None)
    asyncio.run(again.run_once())
    twice = {f.relative_to(other.snapshots_dir): f.read_bytes() for f in other.snapshots_dir.rglob("*.*")}
    assert once == twice


def test_verify_snapshots_finds_a_snapshot_that_says_otherwise_than_the_log(kafka, tmp_path):
    import subprocess
    import sys

    import msgspec

    from tests.conftest import isolated_settings

    settings = isolated_settings(kafka.cfg.bootstrap, tmp_path, snapshot_every_events=25, history_lateness=0.2)
    asyncio.run(produce_rounds(settings, 6, 100, random.Random(3)))
    asyncio.run(SnapshotBuilder(settings, None).run_once())
    env = {**settings.to_env(), "PATH": "/usr/bin:/bin"}

    def verify():
        return subprocess.run([sys.executable, "-m", "factory_app", "verify", "--snapshots"], env=env,
                              capture_output=True, text=True, timeout=300)

    ok = verify()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("OK  ") >= 8 * 3 and "DIFF" not in ok.stdout  # partitions x telemetry-state's tables
    # Damage one asset's state in the newest snapshot of a partition: verify names the key.
    store = SnapshotStore(settings.snapshots_dir)
    part = store.partitions()[0]
    from factory_app.snapshots.build import fingerprints, snapshotted
    fp = fingerprints(settings, None, snapshotted(settings, None))["telemetry-state"]
    point = store.points(part, "telemetry-state", fp)[-1]
    path = store.snapshot_path(part, point, "telemetry-state", fp)
    body = msgspec.msgpack.decode(path.read_bytes())
    states = unpack_tables(body["tables"])["asset_state"]
    asset = sorted(states)[0]
    states[asset]["events"] += 1
    body["tables"]["asset_state"] = pack_tables({"asset_state": states})["asset_state"]
    path.write_bytes(msgspec.msgpack.encode(body))
    bad = verify()
    assert bad.returncode == 1
    assert "DIFF" in bad.stdout and f"{asset}:" in bad.stdout, bad.stdout


def test_a_backfilled_log_is_read_by_event_time_not_by_when_it_was_appended(kafka, tmp_path):
    """A month of history appended in a few seconds (a backfill, a mirror catching up): the
    broker's append times say nothing of the events' own, and the bounded read still costs the
    instant's neighbourhood."""
    from harness.helpers import produce_raw

    from tests.conftest import isolated_settings

    settings = isolated_settings(kafka.cfg.bootstrap, tmp_path, snapshot_every_events=100, history_lateness=30.0)
    rng = random.Random(5)
    evs = [events.Telemetry(event_id=f"b{i}", asset_id=rng.choice(ASSETS), event_time=1_700_000_000 + i * 60.0
                            + rng.uniform(-20, 20), tag="t", value=float(i)) for i in range(4000)]
    asyncio.run(produce_raw(settings, events.TELEMETRY, [(e.asset_id.encode(), events.encode(e)) for e in evs]))
    asyncio.run(SnapshotBuilder(settings, None).run_once())
    for q in (0.1, 0.5, 0.9):
        at = evs[int(q * len(evs))].event_time
        reads = Reads()
        assert asyncio.run(state_at(settings, at, reads=reads)) == asyncio.run(state_at_from_start(settings, at))
        # About one interval per partition (8 x 100) and the lateness' worth, not the 4,000.
        assert reads.read < 1500, (q, reads)


def test_snapshots_newer_than_the_retained_log_still_answer_exactly(kafka, tmp_path):
    """Retention (here DeleteRecords, what retention does to old segments) removes the log's
    beginning: instants from the oldest snapshot inside the retained log on are answered as
    they were before, older ones are refused naming the oldest answerable instant, and a builder
    that would fold across the gap refuses instead of writing snapshots of half a history."""
    from aiokafka import TopicPartition
    from aiokafka.admin import RecordsToDelete

    from factory_app.kafka_clients import with_admin
    from factory_app.snapshots.bounded import HistoryGone
    from factory_app.snapshots.build import RetentionGap, fingerprints, snapshotted
    from tests.conftest import isolated_settings

    settings = isolated_settings(kafka.cfg.bootstrap, tmp_path, snapshot_every_events=40, history_lateness=0.2)
    sent = asyncio.run(produce_rounds(settings, 20, 100, random.Random(13)))
    builder = SnapshotBuilder(settings, None)
    asyncio.run(builder.run_once())
    store = SnapshotStore(settings.snapshots_dir)
    fp = fingerprints(settings, None, snapshotted(settings, None))["telemetry-state"]
    times = event_times(sent)
    cut_time = times[int(0.4 * len(times))]
    cut = {}
    for p in store.partitions():
        # Each partition loses its log up to its newest point at or before the cut time.
        points = [pt for pt in store.points(p, "telemetry-state", fp) if pt.at_or_before(cut_time)]
        if points:
            cut[TopicPartition(settings.topic(events.TELEMETRY), p)] = points[-1].telemetry
    assert cut  # some partitions lose their beginning
    later = [t for t in times if t >= cut_time]
    instants = [times[int(0.02 * len(times))]] + [later[int(q * (len(later) - 1))] for q in (0.0, 0.5, 0.9)]
    instants += [times[-1] + 60]
    before = {at: asyncio.run(state_at_from_start(settings, at)) for at in instants}
    asyncio.run(with_admin(settings.kafka, lambda admin: admin.delete_records(
        {tp: RecordsToDelete(before_offset=off) for tp, off in cut.items()}, timeout_ms=30_000)))

    with pytest.raises(HistoryGone, match="is gone"):
        asyncio.run(state_at(settings, instants[0]))
    for at in instants[1:]:
        assert asyncio.run(state_at(settings, at)) == before[at], at
    # The running builder goes on (its snapshots are ahead of the cut); a new one refuses.
    sent += asyncio.run(produce_rounds(settings, 3, 100, random.Random(14), first=9000))
    asyncio.run(builder.run_once())
    fresh = settings.updated({"snapshot_dir": tmp_path / "fresh"})
    with pytest.raises(RetentionGap, match="gone"):
        asyncio.run(SnapshotBuilder(fresh, None).run_once())
    assert asyncio.run(SnapshotBuilder(fresh, None, from_retained=True).run_once()) > 0


def test_training_and_twin_spans_from_snapshots_equal_the_reads_from_offset_0(kafka, tmp_path):
    """`train` and `twin calibrate` read the telemetry caused in [from, to): from the newest
    snapshot before `from` they read the same events, in the same order, as from offset 0
    (late ones found through the ledgers, the tail no snapshot covers read whole), and less of the log."""
    from types import SimpleNamespace

    from factory_app.snapshots.span import plan_span, span_events
    from factory_app.training import twin
    from tests.conftest import isolated_settings

    settings = isolated_settings(kafka.cfg.bootstrap, tmp_path, snapshot_every_events=40, history_lateness=0.2)
    rng = random.Random(17)
    sent = asyncio.run(produce_rounds(settings, 24, 100, rng))
    asyncio.run(SnapshotBuilder(settings, None).run_once())
    sent += asyncio.run(produce_rounds(settings, 4, 100, rng, first=20_000))
    times = event_times(sent)
    at = {q: times[int(q * (len(times) - 1))] for q in (0.2, 0.3, 0.4, 0.5, 0.9)}  # exact event times: edges hit

    async def span_read(since, until, full):
        span = await plan_span(settings, since, until, full=full)
        got = [(rec.partition, rec.offset, ev.event_id) async for rec, ev in span_events(settings, span)]
        return got, sum(span.read.values())

    spans = [(at[0.2], at[0.4]), (at[0.5], None), (None, at[0.3]), (at[0.9], times[-1] + 1), (at[0.3], at[0.3])]
    for since, until in spans:
        bounded, done = asyncio.run(span_read(since, until, False))
        reference, total = asyncio.run(span_read(since, until, True))
        assert bounded == reference, (since, until)
        if (since, until) == spans[0]:
            assert bounded and done < total * 0.6, (done, total)

    plant = SimpleNamespace(assets=[SimpleNamespace(id=a) for a in ASSETS[:6]])
    bounded = asyncio.run(twin.recorded(settings, plant, at[0.2], at[0.5]))
    reference = asyncio.run(twin.recorded(settings, plant, at[0.2], at[0.5],
                                          span=asyncio.run(plan_span(settings, at[0.2], at[0.5], full=True))))
    assert bounded[0] and bounded[0] == reference[0]
    assert bounded[1]["read_from_offsets"] != reference[1]["read_from_offsets"]  # it did start from snapshots


def test_thinned_snapshots_still_answer_exactly_and_keep_every_late_event(kafka, tmp_path):
    """Old points thinned to one per interval of event time, their ledgers merged: fewer points,
    every late event still listed, and state-at equal to the fold from offset 0 at every instant."""
    from factory_app.snapshots.build import fingerprints, lateness_ms, snapshotted
    from tests.conftest import isolated_settings

    kept = isolated_settings(kafka.cfg.bootstrap, tmp_path / "kept", snapshot_every_events=30, history_lateness=0.2)
    sent = asyncio.run(produce_rounds(kept, 30, 100, random.Random(23)))
    thinned = kept.updated({"snapshot_dir": tmp_path / "thinned", "snapshot_keep_all_seconds": 0.5,
                            "snapshot_thin_to_seconds": 0.6})
    asyncio.run(SnapshotBuilder(kept.updated({"snapshot_keep_all_seconds": 3600}), None).run_once())
    builder = SnapshotBuilder(thinned, None)
    asyncio.run(builder.run_once())
    assert builder.points_thinned > 0

    fp = fingerprints(kept, None, snapshotted(kept, None))["telemetry-state"]
    whole, thin = SnapshotStore(kept.snapshots_dir), SnapshotStore(thinned.snapshots_dir)
    lateness = lateness_ms(kept)

    def late_offsets(store, p):
        return sorted((t, o) for g in store.ledgers(p, lateness) for t, o, _ in store.read_ledger(p, g, lateness))
    for p in whole.partitions():
        assert late_offsets(thin, p) == late_offsets(whole, p), p
        assert max(thin.points(p, "telemetry-state", fp)) == max(whole.points(p, "telemetry-state", fp))
    assert sum(len(thin.points(p, "telemetry-state", fp)) for p in thin.partitions()) < \
        sum(len(whole.points(p, "telemetry-state", fp)) for p in whole.partitions())

    times = event_times(sent)
    for q in (0.02, 0.1, 0.25, 0.4, 0.6, 0.8, 0.97):
        at = times[int(q * (len(times) - 1))]
        assert asyncio.run(state_at(thinned, at)) == asyncio.run(state_at_from_start(kept, at)), q
