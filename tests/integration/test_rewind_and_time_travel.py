"""rewind plans against the broker's own offsets-for-times; time travel against a plain fold."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid

import pytest
from aiokafka import TopicPartition

from factory_app import events
from factory_app.kafka_clients import consumer_of, partitions_of, start_consumer
from factory_app.producer import new_producer
from factory_app.replay.rewind import Target, plan
from factory_app.replay.state_at import state_at
from harness.helpers import start_worker, wait_ready

pytestmark = pytest.mark.integration


async def produce(settings, n: int, first: int = 0) -> None:
    """``n`` telemetry events (ids from ``first``); their record timestamps are the broker's
    append time (source topics are LogAppendTime), whatever a producer would say."""
    producer = new_producer(settings)
    await producer.start()
    for i in range(first, first + n):
        ev = events.Telemetry(event_id=f"e{i}", asset_id=f"a{i % 10}", event_time=1_700_000_000 + i, tag="t",
                              value=float(i))
        await (await producer.send(settings.topic(events.TELEMETRY), events.encode(ev), key=ev.asset_id.encode(),
                                   timestamp_ms=1_700_000_000_000 + i * 1000))  # ignored by the broker
    await producer.stop()


async def consume_all_in_group(settings, group: str) -> None:
    consumer = await start_consumer(settings.topic(events.TELEMETRY), bootstrap=settings.kafka.bootstrap,
                                    group_id=group, enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        tps = await partitions_of(consumer, settings.topic(events.TELEMETRY))
        ends = await consumer.end_offsets(tps)
        while True:
            await consumer.getmany(timeout_ms=500)
            assigned = consumer.assignment()
            if len(assigned) == len(tps) and all([await consumer.position(tp) >= ends[tp] for tp in assigned]):
                break
        await consumer.commit()
    finally:
        await consumer.stop()


async def first_offsets_seen(settings, group: str) -> dict[TopicPartition, int]:
    consumer = await start_consumer(settings.topic(events.TELEMETRY), bootstrap=settings.kafka.bootstrap,
                                    group_id=group, enable_auto_commit=False)
    try:
        seen: dict[TopicPartition, int] = {}
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=500)
            for tp, recs in batch.items():
                if recs:
                    seen.setdefault(tp, recs[0].offset)
            if len(seen) >= 8:
                break
        return seen
    finally:
        await consumer.stop()


def test_rewind_to_a_time_in_the_middle(settings):
    asyncio.run(produce(settings, 200))
    middle = time.time()  # every record so far was appended (acknowledged) before this instant
    asyncio.run(produce(settings, 200, first=200))
    group = f"g-{uuid.uuid4().hex[:6]}"
    asyncio.run(consume_all_in_group(settings, group))

    rows = asyncio.run(plan(settings, group, None, Target("time", middle)))

    async def broker_says():
        async with consumer_of(settings.kafka.bootstrap) as c:
            tps = await partitions_of(c, settings.topic(events.TELEMETRY))
            found = await c.offsets_for_times({tp: int(middle * 1000) for tp in tps})
            ends = await c.end_offsets(tps)
            return {tp: (o.offset if o else ends[tp]) for tp, o in found.items()}
    expected = asyncio.run(broker_says())
    assert {r.tp: r.target for r in rows} == expected
    assert all(r.current == r.end for r in rows)  # the group had consumed everything
    assert 0 < sum(r.lag_after for r in rows) < 400

    dry = subprocess.run([sys.executable, "-m", "factory_app", "rewind", "--group", group, "--to-datetime",
                          str(middle)], env={**os.environ, **settings.to_env()}, capture_output=True, text=True)
    assert dry.returncode == 0 and "dry run" in dry.stdout
    assert [r.current for r in asyncio.run(plan(settings, group, None, Target("shift", 0)))] == [r.current for r in rows]
    done = subprocess.run([sys.executable, "-m", "factory_app", "rewind", "--group", group, "--to-datetime",
                           str(middle), "--execute"], env={**os.environ, **settings.to_env()},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seen = asyncio.run(first_offsets_seen(settings, group))
    assert seen == {tp: off for tp, off in expected.items() if off < next(r.end for r in rows if r.tp == tp)}


def test_rewind_refuses_while_a_worker_runs(settings, children):
    worker = start_worker(settings)
    children.append(worker)
    wait_ready(settings)
    proc = subprocess.run([sys.executable, "-m", "factory_app", "rewind", "--to-earliest", "--execute",
                           "--topic", settings.topic(events.TELEMETRY)],
                          env={**os.environ, **settings.to_env()}, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "active member" in proc.stderr and settings.worker.app_id in proc.stderr


def plain_fold(evs, at):
    """Reference: last sample per (asset, tag) among events with event time <= at, in log order."""
    out = {}
    for ev in evs:
        if ev.event_time <= at:
            out.setdefault(ev.asset_id, {})[ev.tag] = ev.value
    return out


def test_state_at_equals_a_plain_fold(settings):
    rng = random.Random(5)
    evs = [events.Telemetry(event_id=f"e{i}", asset_id=f"a{rng.randrange(12)}", event_time=1000 + i + rng.uniform(-5, 5),
                            tag=rng.choice(["x", "y", "z"]), value=round(rng.uniform(0, 100), 2)) for i in range(3000)]
    from harness.helpers import produce_raw
    asyncio.run(produce_raw(settings, events.TELEMETRY, [(e.asset_id.encode(), events.encode(e)) for e in evs]))
    # Log order per asset is production order (one key -> one partition).
    for at in (900, 1200.5, 2000, 3500, 5000):
        got = asyncio.run(state_at(settings, at))
        got_plain = {a: {t: s["value"] for t, s in st["tags"].items()} for a, st in got.items()}
        assert got_plain == plain_fold(evs, at), at
    one = asyncio.run(state_at(settings, 2000, asset="a3"))
    assert set(one) == {"a3"} and {t: s["value"] for t, s in one["a3"]["tags"].items()} == plain_fold(evs, 2000)["a3"]
