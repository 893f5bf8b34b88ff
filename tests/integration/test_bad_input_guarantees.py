"""What the contract promises about bad input, on a real broker and a real worker (issue: nothing lost).

Each test appends hostile input beside good input and checks that the good input is in the
tables exactly once and the bad input is in the dead-letter topic with its reason. The last
test stops the worker and runs ``factory verify``: a fold of the same log from scratch must
decide every case (poison, duplicate, skewed clock, bad id) exactly as the live worker did.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from factory_app import events
from factory_app.children import wait_until
from tables import keys, windows
from tests.conftest import isolated_settings
from harness.helpers import get_json, log_text, produce_raw, read_topic, start_worker, table_dump, wait_ready

pytestmark = pytest.mark.integration

NOW = time.time()


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    settings = isolated_settings(kafka.cfg.bootstrap, tmp_path_factory.mktemp("badinput"))
    child = start_worker(settings)
    try:
        wait_ready(settings)
        yield settings, child
    finally:
        child.stop(timeout=15)


def tele(asset: str, tag: str, value, t: float, event_id: str | None = None) -> events.Telemetry:
    return events.Telemetry(event_id=event_id or uuid.uuid4().hex, asset_id=asset, event_time=t, tag=tag, value=value)


def raw(asset: str, tag: str, value_json: str, t: float) -> tuple[bytes, bytes]:
    """A telemetry message written by hand (the contract's own encoder would refuse it)."""
    doc = (f'{{"type":"telemetry","event_id":"{uuid.uuid4().hex}","asset_id":"{asset}","event_time":{t},'
           f'"tag":"{tag}","value":{value_json}}}')
    return asset.encode(), doc.encode()


def msg(ev: events.Telemetry) -> tuple[bytes, bytes]:
    return ev.asset_id.encode(), events.encode(ev)


def state(settings, asset: str) -> dict | None:
    return table_dump(settings, "asset_state").get(asset)


def letters(settings, reason: str, asset: str) -> list[events.DeadLetter]:
    dead = asyncio.run(read_topic(settings, events.DEAD_LETTER))
    out = [events.decode_dead_letter(r.value) for recs in dead.values() for r in recs]
    return [d for d in out if d.reason == reason and (d.key_b64 or "") == base64.b64encode(asset.encode()).decode()]


def metric(settings, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.web.port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def test_a_value_that_cannot_be_stored_loses_no_other_event(worker):
    """On 1081d30 an integer beyond 64 bits decoded, then made the batch flush raise: the agent
    restarted and the whole batch (other assets' events included) was acked and lost."""
    settings, child = worker
    good = [tele(f"poison-{i % 5}", "level", float(i), NOW - 100 + i * 0.01) for i in range(300)]
    messages = [msg(e) for e in good[:150]] + [raw("poison-0", "level", str(2**70), NOW - 99)] + \
               [msg(e) for e in good[150:]]
    asyncio.run(produce_raw(settings, events.TELEMETRY, messages))
    wait_until(lambda: sum((state(settings, f"poison-{i}") or {"events": 0})["events"] for i in range(5)) == 300,
               60, what="all 300 good events in state")
    dead = wait_until(lambda: letters(settings, "invalid", "poison-0"), 30, what="the poison event dead-lettered")
    assert len(dead) == 1 and str(2**70).encode() in dead[0].raw
    assert str(2**70) not in json.dumps(table_dump(settings, "asset_state"))
    assert child.alive() and "Restarting dead" not in log_text(child) and "Crashed" not in log_text(child)


def test_ids_outside_the_contract_are_dead_lettered_and_views_look_up_exactly(worker):
    settings, _ = worker
    bad_ids = [("a|b", "c"), ("a", "b|c"), (" ", "t"), ("../x", "t"), ("ok-1", "t\x01"), ("x" * 200, "t")]
    asyncio.run(produce_raw(settings, events.TELEMETRY, [raw(json.dumps(a)[1:-1], json.dumps(t)[1:-1], "1.0", NOW)
                                                          for a, t in bad_ids]))
    # Two assets whose ids share a prefix, each with its own windows.
    asyncio.run(produce_raw(settings, events.TELEMETRY, [msg(tele("line-1", "t", 1.0, NOW)),
                                                          msg(tele("line-10", "t", 2.0, NOW))]))
    wait_until(lambda: state(settings, "line-1") and state(settings, "line-10"), 60, what="both assets in state")
    dead = wait_until(lambda: (lambda d: d if len(d) == len(bad_ids) else None)(
        [d for recs in asyncio.run(read_topic(settings, events.DEAD_LETTER)).values() for r in recs
         if (d := events.decode_dead_letter(r.value)).reason == "invalid_id"]), 30, what="every bad id dead-lettered")
    assert all(d.detail.startswith("invalid id") for d in dead)
    assert not any("|" in k for k in table_dump(settings, "asset_state"))
    for asset in ("line-1", "line-10"):
        got = get_json(f"http://127.0.0.1:{settings.web.port}/windows/{asset}/")
        assert got and {keys.parse_window_key(k)[0] for k in got} == {asset}


def test_a_duplicated_event_is_folded_once(worker):
    settings, _ = worker
    evs = [tele("dup-1", "flow", float(i), NOW - 50 + i) for i in range(10)]
    # Each event appended twice (a producer retry), the copy a few events later.
    messages = [msg(e) for e in evs[:5]] + [msg(e) for e in evs] + [msg(e) for e in evs[5:]]
    before = metric(settings, "factory_duplicate_events_total")
    asyncio.run(produce_raw(settings, events.TELEMETRY, messages))
    wait_until(lambda: metric(settings, "factory_duplicate_events_total") - before >= 10, 60,
               what="10 duplicates counted")
    st = state(settings, "dup-1")
    assert st["events"] == 10
    dump = table_dump(settings, "tag_windows")
    counted = sum(v["count"] for k, v in dump.items() if keys.parse_window_key(k)[:2] == ("dup-1", "flow")
                  and keys.parse_window_key(k)[2] is not None)
    assert counted == 10


def test_a_plc_clock_in_the_future_cannot_disable_a_series(worker):
    """On 1081d30, 60 samples stamped in the future filled the tag's window retention for good:
    every correct sample after them was 'late'."""
    settings, _ = worker
    future = [msg(tele("skew-1", "temp", 20.0, NOW + 86_400 + i * settings.worker.window_seconds)) for i in range(70)]
    correct = [msg(tele("skew-1", "temp", 21.0 + i, NOW + i * 0.1)) for i in range(5)]
    asyncio.run(produce_raw(settings, events.TELEMETRY, future + correct))
    wait_until(lambda: (state(settings, "skew-1") or {"events": 0})["events"] == 5, 60, what="5 correct samples")
    dead = wait_until(lambda: (lambda d: d if len(d) == 70 else None)(letters(settings, "clock_skew", "skew-1")),
                      30, what="70 clock_skew dead letters")
    assert "ahead of its log time" in dead[0].detail
    index = windows.unpack_index(table_dump(settings, "tag_windows")[keys.index_key("skew-1", "temp")])
    assert index["starts"] and max(index["starts"]) <= NOW + 60
    assert state(settings, "skew-1")["last_event_time"] < NOW + 60


def test_a_producer_cannot_choose_the_time_its_events_are_checked_against(worker):
    """Issue 29, item 15: 65 samples whose event time and record timestamp were both 50 minutes
    ahead passed the clock check (it compared with the producer's timestamp), filled the tag's
    window retention and left the current series without windows. Source topics now take the
    broker's append time, so the producer's timestamp is not the reference."""
    from factory_app.producer import new_producer

    settings, _ = worker
    # 48 minutes ahead, the last of them within the broker's own limit (message.timestamp.after.max.ms, 1 h)
    ahead, step = time.time() + 2900, settings.worker.window_seconds

    async def stamped_ahead() -> None:
        producer = new_producer(settings)
        await producer.start()
        try:
            for i in range(65):
                ev = tele("stamp-1", "temp", 20.0, ahead + i * step)
                await (await producer.send(settings.topic(events.TELEMETRY), events.encode(ev), key=b"stamp-1",
                                           timestamp_ms=int((ahead + i * step) * 1000)))
        finally:
            await producer.stop()
    asyncio.run(stamped_ahead())
    now = time.time()
    asyncio.run(produce_raw(settings, events.TELEMETRY, [msg(tele("stamp-1", "temp", 21.0 + i, now + i * 0.1))
                                                         for i in range(5)]))
    wait_until(lambda: (state(settings, "stamp-1") or {"events": 0})["events"] == 5, 60, what="5 current samples")
    dead = wait_until(lambda: (lambda d: d if len(d) == 65 else None)(letters(settings, "clock_skew", "stamp-1")),
                      30, what="65 clock_skew dead letters")
    assert "ahead of its log time" in dead[0].detail
    index = windows.unpack_index(table_dump(settings, "tag_windows")[keys.index_key("stamp-1", "temp")])
    assert index["starts"] and max(index["starts"]) <= now + 60  # the current series has its windows


def test_a_fold_from_scratch_decides_every_case_as_the_live_worker_did(worker):
    settings, child = worker
    assert child.stop(timeout=20) == 0
    proc = subprocess.run([sys.executable, "-m", "factory_app", "verify", "asset_state", "tag_windows"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **settings.to_env()})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK") == 2
