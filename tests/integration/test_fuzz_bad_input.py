"""Malformed, truncated, oversized, wrong-type, NaN/Inf, unknown-asset and future-schema input.

Hypothesis builds the batches; a real worker and command writer consume them beside
good traffic. Every bad message ends in the dead-letter topic with a reason (an
unknown asset's command gets a `rejected` CommandResult instead: it is well formed,
just not allowed), every good event reaches state, and no process dies.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings as hsettings, strategies as st

from factory_app import events
from factory_app.children import wait_until
from factory_app.config import load_plant
from harness.helpers import produce_raw, read_topic, table_dump, wait_ready
from harness.plant import Plant, make_settings

pytestmark = pytest.mark.integration

ASSETS = ["oven-1", "conveyor-1", "press-1"]


def good_event(i: int, asset: str) -> events.Telemetry:
    return events.Telemetry(event_id=f"g{i}-{time.time_ns()}", asset_id=asset, event_time=1.0e9 + i, tag="t",
                            value=float(i))


def mutate(doc: dict, field: str, value) -> bytes:
    return json.dumps({**doc, field: value}).encode()


@st.composite
def bad_telemetry(draw) -> tuple[bytes, bytes | None, set[str]]:
    """(key, value, acceptable reasons)"""
    asset = draw(st.sampled_from(ASSETS))
    doc = json.loads(events.encode(good_event(draw(st.integers(0, 10**6)), asset)))
    key = asset.encode()
    kind = draw(st.sampled_from(["bytes", "truncated", "wrong_type", "nonfinite", "future", "oversized", "empty",
                                 "wrong_key", "command_on_telemetry"]))
    if kind == "bytes":
        raw = draw(st.binary(min_size=1, max_size=300).filter(lambda b: not b.strip().startswith(b"{")))
        return key, raw, {"undecodable"}
    if kind == "truncated":
        full = json.dumps(doc).encode()
        return key, full[: draw(st.integers(1, len(full) - 1))], {"undecodable", "invalid"}
    if kind == "wrong_type":
        wrong = {"value": [[1, 2], {"x": 1}, None], "event_time": ["soon", None, [1]], "asset_id": [None, 5, [1]],
                 "tag": [None, 5, {"a": 1}], "quality": ["excellent", 3, None], "seq": ["x", 1.5, None]}
        field = draw(st.sampled_from(sorted(wrong)))
        return key, mutate(doc, field, draw(st.sampled_from(wrong[field]))), {"invalid"}
    if kind == "nonfinite":
        token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"]))
        return key, json.dumps(doc).replace(json.dumps(doc["value"]), token, 1).encode(), {"invalid", "undecodable"}
    if kind == "future":
        return key, mutate(doc, "v", draw(st.integers(2, 10**6))), {"unknown_schema_version"}
    if kind == "oversized":
        return key, mutate(doc, "tag", "x" * (events.MAX_EVENT_BYTES + draw(st.integers(1, 100_000)))), {"oversized"}
    if kind == "empty":
        return key, None, {"empty"}
    if kind == "wrong_key":
        return b"someone-else", json.dumps(doc).encode(), {"key_mismatch"}
    cmd = events.Command(event_id="c", command_id="c", asset_id=asset, event_time=1, action="write", target="x",
                         cause_event_id="y", rule="r", deadline=2)
    return key, events.encode(cmd), {"unexpected_type"}


@pytest.fixture(scope="module")
def plant(kafka, tmp_path_factory):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path_factory.mktemp("fuzz"))
    settings = settings.updated({"processors": ["telemetry-state", "command-ledger"]})
    p = Plant(settings, load_plant(settings.plant_config))
    try:
        p.start("worker", "writer")
        wait_ready(settings)
        yield p
    finally:
        p.stop()


def dead_letters(settings) -> list[events.DeadLetter]:
    recs = asyncio.run(read_topic(settings, events.DEAD_LETTER))
    return [events.decode_dead_letter(r.value) for part in recs.values() for r in part]


@hsettings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
           phases=[Phase.explicit, Phase.generate])  # no shrinking: each example runs real processes
@given(bad=st.lists(bad_telemetry(), min_size=60, max_size=120),
       bad_commands=st.lists(st.binary(min_size=1, max_size=200), min_size=5, max_size=20))
def test_bad_input_is_dead_lettered_and_nothing_else_is_lost(plant, bad, bad_commands):
    s = plant.settings
    seen_before = {(d.topic, d.partition, d.offset) for d in dead_letters(s)}
    before_events = sum(v["events"] for v in table_dump(s, "asset_state").values() if v)
    good = [good_event(i, ASSETS[i % 3]) for i in range(300)]
    mixed = [(e.asset_id.encode(), events.encode(e)) for e in good]
    for i, (key, raw, _) in enumerate(bad):
        mixed.insert((i * 7) % (len(mixed) + 1), (key, raw))
    asyncio.run(produce_raw(s, events.TELEMETRY, mixed))
    now = time.time()
    unknown = events.Command(event_id=f"u{now}", command_id=f"u{now}", asset_id="press-9", event_time=now,
                             action="write", target="run", value=False, cause_event_id="x", rule="fuzz",
                             deadline=now + 30)
    asyncio.run(produce_raw(s, events.COMMANDS, [(b"press-1", raw) for raw in bad_commands]
                            + [(b"press-9", events.encode(unknown))]))

    expected = len(bad) + len(bad_commands)
    def new_letters():
        fresh = [d for d in dead_letters(s) if (d.topic, d.partition, d.offset) not in seen_before]
        return fresh if len(fresh) >= expected else None
    letters = wait_until(new_letters, 45, what=f"{expected} new dead letters")
    assert len(letters) == expected
    by_raw: dict[bytes, list] = {}
    for dl in letters:
        assert dl.reason in events.DEAD_LETTER_REASONS and dl.detail
        by_raw.setdefault(dl.raw, []).append(dl)
    for key, raw, reasons in bad:
        copy = (raw or b"")[: events.MAX_EVENT_BYTES]
        assert copy in by_raw, f"bad message missing from dead letters: {copy[:80]!r}"
        assert by_raw[copy][0].reason in reasons, (copy[:80], by_raw[copy][0].reason, reasons)
        assert by_raw[copy][0].raw_truncated == (len(raw or b"") > events.MAX_EVENT_BYTES)
    assert all(any(dl.consumer == "command-writer" for dl in by_raw[raw]) for raw in bad_commands)

    wait_until(lambda: sum(v["events"] for v in table_dump(s, "asset_state").values() if v)
               == before_events + len(good), 60, what="every good event in state")

    def unknown_result():
        recs = asyncio.run(read_topic(s, events.COMMAND_RESULTS))
        return [r for part in recs.values() for r in (events.decode(x.value) for x in part)
                if r.command_id == unknown.command_id]
    results = wait_until(unknown_result, 30, what="the unknown asset's command result")
    assert [r.status for r in results] == ["rejected"] and "unknown asset" in results[0].detail
    assert all(c.alive() for c in plant.children.values()), "no process died"
    for c in plant.children.values():
        assert "Traceback" not in c.log_path.read_text()
