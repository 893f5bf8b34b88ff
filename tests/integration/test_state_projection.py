"""The state projections against a real broker, real worker processes and real RocksDB files."""

from __future__ import annotations

import asyncio
import math
import random
import shutil
import uuid

import pytest

from factory_app import events
from factory_app.children import wait_until
from harness import reference_fold as ref
from harness.helpers import log_text, wait_ready, produce_raw, read_topic, start_worker, table_dump

pytestmark = pytest.mark.integration

N_ASSETS = 50
TAGS = ("temperature", "speed", "pressure", "running", "mode")


def make_events(n: int, seed: int = 7, t0: float = 1_700_000_000.0) -> list[events.Telemetry]:
    """``n`` telemetry events over 50 assets; event time mostly rising with some disorder."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tag = rng.choice(TAGS)
        value: events.Scalar
        if tag == "running":
            value = rng.random() < 0.5
        elif tag == "mode":
            value = rng.choice(["auto", "manual"])
        elif tag == "speed":
            value = rng.randint(0, 3000)
        else:
            value = round(rng.uniform(-20, 400), 3)
        out.append(events.Telemetry(
            event_id=uuid.UUID(int=rng.getrandbits(128)).hex, asset_id=f"asset-{rng.randrange(N_ASSETS):02d}",
            event_time=t0 + i * 0.01 + rng.uniform(-0.5, 0.5), tag=tag, value=value,
            quality=rng.choice(["good", "good", "good", "uncertain"]), seq=i))
    return out


def as_messages(evs):
    return [(e.asset_id.encode(), events.encode(e)) for e in evs]


def processed_total(settings) -> int:
    return sum(s["events"] for s in table_dump(settings, "asset_state").values() if s)


def assert_matches_fold(settings, records, good_ids=None):
    assert ref.projection_state(table_dump(settings, "asset_state")) == ref.fold_state(records, good_ids)
    expected = ref.fold_windows(records, settings.worker.window_seconds, good_ids)
    got = ref.projection_windows(table_dump(settings, "tag_windows"))
    assert got.keys() == expected.keys()
    for key, agg in expected.items():
        for field in ("count", "min", "max", "last"):
            assert got[key][field] == agg[field], (key, field)
        assert math.isclose(got[key]["mean"], agg["mean"], rel_tol=1e-9), key


def assert_changelogs_partitioned_like_source(settings, records):
    """Every changelog record sits in the partition of its asset's telemetry (batched writes included):
    a record in another partition would be restored by the wrong worker after a rebalance."""
    partition_of = {events.decode(r.value).asset_id: p for p, recs in records.items() for r in recs}
    for table in ("asset_state", "tag_windows"):
        full = f"{settings.worker.app_id}-{table}-changelog"
        log = asyncio.run(read_topic(settings.updated({"topic_prefix": ""}), full))
        assert log, full
        for p, recs in log.items():
            for r in recs:
                asset = r.key.decode().strip('"').split("|")[0]
                assert partition_of[asset] == p, (table, r.key, p)


def test_state_and_windows_equal_fold_and_survive_restarts(settings, children):
    evs = make_events(10_000)
    asyncio.run(produce_raw(settings, events.TELEMETRY, as_messages(evs)))
    worker = start_worker(settings)
    children.append(worker)
    wait_until(lambda: processed_total(settings) == 10_000, 120, what="10,000 events in state")

    records = asyncio.run(read_topic(settings, events.TELEMETRY))
    assert len(records) == 8, "events should spread over all 8 partitions"
    assert sum(len(r) for r in records.values()) == 10_000
    assert_matches_fold(settings, records)
    assert_changelogs_partitioned_like_source(settings, records)
    before = (table_dump(settings, "asset_state"), table_dump(settings, "tag_windows"))

    # Restart keeping local RocksDB state: resumes from it, nothing to restore from the changelog.
    assert worker.stop() == 0
    worker = start_worker(settings, "worker-restart")
    children.append(worker)
    wait_ready(settings)
    wait_until(lambda: processed_total(settings) == 10_000, 120, what="state after restart")
    assert (table_dump(settings, "asset_state"), table_dump(settings, "tag_windows")) == before

    # Restart after deleting local state: the changelog restores the same tables.
    assert worker.stop() == 0
    shutil.rmtree(settings.data_dir)
    worker = start_worker(settings, "worker-restore")
    children.append(worker)
    wait_ready(settings, 180)
    wait_until(lambda: processed_total(settings) == 10_000, 180, what="state restored from changelog")
    assert (table_dump(settings, "asset_state"), table_dump(settings, "tag_windows")) == before
    assert "Restarting dead" not in log_text(worker)


def bad_messages(rng: random.Random, n: int) -> list[tuple[bytes | None, bytes, str]]:
    """Malformed messages of several kinds, each with the dead-letter reason it must get."""
    good = events.encode(events.Telemetry(event_id="x", asset_id="asset-01", event_time=1.0, tag="t", value=1.0))
    kinds = [
        (b"asset-01", b"\xff\xfe\x00 not json", "undecodable"),
        (b"asset-02", good[: len(good) // 2], "undecodable"),
        (b"asset-03", good.replace(b'"v":1', b'"v":99'), "unknown_schema_version"),
        (b"asset-04", good.replace(b'"value":1.0', b'"value":{"x":1}').replace(b"asset-01", b"asset-04"), "invalid"),
        (b"asset-05", good.replace(b'"event_time":1.0', b'"event_time":"soon"'), "invalid"),
        (b"asset-06", good, "key_mismatch"),
        (None, good, "key_mismatch"),
    ]
    return [rng.choice(kinds) for _ in range(n)]


def test_malformed_messages_go_to_dead_letter_and_nothing_else_is_lost(settings, children):
    rng = random.Random(11)
    good = make_events(4_000, seed=3)
    bad = bad_messages(rng, 1_000)
    mixed: list[tuple[bytes | None, bytes]] = as_messages(good)
    for key, raw, _ in bad:
        mixed.insert(rng.randrange(len(mixed) + 1), (key, raw))
    worker = start_worker(settings)
    children.append(worker)
    asyncio.run(produce_raw(settings, events.TELEMETRY, mixed))
    wait_until(lambda: processed_total(settings) == 4_000, 120, what="good events in state")

    dead = wait_until(lambda: (lambda r: r if sum(map(len, r.values())) >= 1_000 else None)(
        asyncio.run(read_topic(settings, events.DEAD_LETTER))), 60, what="1,000 dead letters")
    letters = [events.decode_dead_letter(rec.value) for recs in dead.values() for rec in recs]
    assert len(letters) == 1_000
    got = sorted((dl.raw, dl.reason) for dl in letters)
    assert got == sorted((raw, reason) for _, raw, reason in bad)
    assert all(dl.detail and dl.topic == settings.topic(events.TELEMETRY) for dl in letters)

    records = asyncio.run(read_topic(settings, events.TELEMETRY))
    assert_matches_fold(settings, records, good_ids={e.event_id for e in good})
    assert worker.alive()
    assert "Restarting dead" not in log_text(worker) and "Crashed" not in log_text(worker)
