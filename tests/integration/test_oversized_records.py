"""No record stops the plant (issue 29, item 1), on a real broker, worker, writer and PLC.

On fcbd860 one record with a ~450 KiB key on the commands topic made the command writer exit
(its dead letter, the key twice over, was beyond the producer's 1 MiB limit) and die again on
the same uncommitted record after every restart; on the telemetry topic it crashed the worker.
Here keys, values and headers at the topics' record limit go to every topic a process reads;
each process keeps running, each bad record's dead letter is bounded and names the original's
sizes and digest, good events after them are folded and applied, and a restarted writer takes
up after them. A record over the limit is refused by the topic itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from factory_app import events
from factory_app.children import Child, wait_until
from factory_app.config import load_plant
from factory_app.kafka_clients import RECORD_MAX_BYTES
from harness.helpers import log_text, read_topic, table_dump, wait_ready, worker_ready
from harness.plant import Plant, make_settings, only_assets, opc_read, plc_ready

pytestmark = pytest.mark.integration

ASSET = "conveyor-2"
# Near the limit: what a record's own framing leaves of RECORD_MAX_BYTES (the broker counts the batch).
NEAR = RECORD_MAX_BYTES - 512


async def append(settings, topic: str, records: list[tuple[bytes | None, bytes, list]]) -> list[Exception | None]:
    """Append each (key, value, headers) alone, through a producer that lets the broker judge the size."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.hosts, acks="all", linger_ms=0,
                                max_request_size=4 * RECORD_MAX_BYTES)
    await producer.start()
    outcomes: list[Exception | None] = []
    try:
        for key, value, headers in records:
            try:
                await (await producer.send(settings.topic(topic), value, key=key, headers=headers or None))
                outcomes.append(None)
            except KafkaError as exc:
                outcomes.append(exc)
    finally:
        await producer.stop()
    return outcomes


def hostile(tag: str) -> list[tuple[bytes | None, bytes, list]]:
    """The issue's record (a 450 KiB key, value b"x"), a key, a value and a header at the limit."""
    return [
        ((tag + "k").encode() * (450 * 1024 // (len(tag) + 1)), b"x", []),
        (b"k" * NEAR, b"x", []),
        (ASSET.encode(), b"{" * NEAR, []),
        (ASSET.encode(), b"not json", [("trace", b"h" * NEAR)]),
        (ASSET.encode(), b"not json", [(f"h{i}", b"v" * 1000) for i in range(200)]),
    ]


def command(value: float) -> events.Command:
    cid = f"big-{uuid.uuid4().hex}"
    now = time.time()
    return events.Command(event_id=cid, command_id=cid, asset_id=ASSET, event_time=now, action="write",
                          target="speed_setpoint", value=value, cause_event_id=cid, rule="operator",
                          deadline=now + 60)


def good(ev) -> tuple[bytes, bytes, list]:
    return ev.asset_id.encode(), events.encode(ev), [("trace", b"t" * NEAR)] if isinstance(ev, events.Telemetry) else []


@pytest.fixture(scope="module")
def plant(kafka, tmp_path_factory):
    home = tmp_path_factory.mktemp("oversized")
    settings = make_settings(kafka.cfg.bootstrap, home, only_assets(ASSET))
    plant = Plant(settings, load_plant(settings.plant_config))
    try:
        plant.start("sim", "worker", "writer")
        wait_until(lambda: plc_ready(plant, ASSET), 120, what="the simulated PLC answering")
        wait_until(lambda: "command writer ready" in log_text(plant.children["writer"]), 120, what="the writer ready")
        wait_ready(settings, child=plant.children["worker"])
        yield plant
    finally:
        plant.stop()


def result_of(settings, command_id: str) -> events.CommandResult | None:
    for part in asyncio.run(read_topic(settings, events.COMMAND_RESULTS)).values():
        for rec in part:
            try:
                res = events.decode(rec.value, expect=(events.CommandResult,))
            except events.DecodeFailure:
                continue
            if res.command_id == command_id:
                return res
    return None


def dead_letters(settings) -> list[tuple[int, events.DeadLetter]]:
    return [(len(r.value), events.decode_dead_letter(r.value))
            for part in asyncio.run(read_topic(settings, events.DEAD_LETTER)).values() for r in part]


def applied(plant: Plant, value: float) -> None:
    cmd = command(value)
    asyncio.run(append(plant.settings, events.COMMANDS, [good(cmd)]))
    res = wait_until(lambda: result_of(plant.settings, cmd.command_id), 90, what="the good command's result")
    assert res.status == "applied", res
    assert asyncio.run(opc_read(plant, ASSET, "speed_setpoint")) == value


def alive(child: Child) -> None:
    assert child.alive(), log_text(child)[-3000:]
    assert "Traceback" not in log_text(child), log_text(child)[-3000:]


def test_a_record_over_the_limit_is_refused_by_the_topic(plant):
    outcomes = asyncio.run(append(plant.settings, events.COMMANDS, [(b"k" * (RECORD_MAX_BYTES + 1024), b"x", [])]))
    assert outcomes[0] is not None, "the commands topic took a record over its max.message.bytes"


def test_records_at_the_limit_on_commands_never_stop_actuation(plant):
    s = plant.settings
    records = hostile("cmd")
    assert asyncio.run(append(s, events.COMMANDS, records)) == [None] * len(records)
    applied(plant, 0.7)  # behind every hostile record, on the writer's only consumer
    # The writer's dead letters, one per hostile record, each bounded and naming its original.
    letters = wait_until(lambda: (lambda d: d if len(d) >= len(records) else None)(
        [(n, d) for n, d in dead_letters(s) if d.consumer == "command-writer" and d.topic == s.topic(events.COMMANDS)]),
        60, what="a dead letter per hostile command record")
    assert len(letters) == len(records)
    digest = lambda b: None if b is None else hashlib.sha256(b).hexdigest()  # noqa: E731
    found = {(d.key_sha256, d.raw_sha256, d.headers_count): (size, d) for size, d in letters}
    for key, value, headers in records:  # records land on other partitions: matched by their digests
        size, dl = found[(digest(key), digest(value), len(headers))]
        assert size <= events.DEAD_LETTER_MAX_BYTES
        assert dl.key_size == len(key) and dl.raw_size == len(value)
        assert [h.size for h in dl.headers] == [len(v) for _, v in headers][:events.DEAD_HEADERS_COPIED]
    alive(plant.children["writer"])
    alive(plant.children["worker"])
    assert worker_ready(s)


def test_records_at_the_limit_on_telemetry_never_stop_control(plant):
    s = plant.settings
    records = hostile("tel")
    sentinel = events.Telemetry(event_id=uuid.uuid4().hex, asset_id=ASSET, event_time=time.time(), tag="big_probe",
                                value=3.5)
    assert asyncio.run(append(s, events.TELEMETRY, records + [good(sentinel)])) == [None] * (len(records) + 1)
    wait_until(lambda: (table_dump(s, "asset_state").get(ASSET) or {}).get("tags", {}).get("big_probe") is not None,
               90, what="the telemetry after the hostile records folded")
    letters = wait_until(lambda: (lambda d: d if len(d) >= len(records) else None)(
        [(n, d) for n, d in dead_letters(s) if d.topic == s.topic(events.TELEMETRY)]),
        60, what="a dead letter per hostile telemetry record")
    assert len(letters) == len(records) and all(n <= events.DEAD_LETTER_MAX_BYTES for n, _ in letters)
    assert {d.reason for _, d in letters} == {"undecodable", "oversized"}
    alive(plant.children["worker"])


def test_records_at_the_limit_on_results_and_intents_do_not_stop_a_restarted_writer(plant):
    s = plant.settings
    for topic in (events.COMMAND_RESULTS, events.COMMAND_INTENTS):
        records = hostile(topic[:3])
        assert asyncio.run(append(s, topic, records)) == [None] * len(records)
    # The worker's ledger folds results: it dead-letters the bad ones and goes on.
    wait_until(lambda: len([d for _, d in dead_letters(s) if d.topic == s.topic(events.COMMAND_RESULTS)])
               >= len(records), 60, what="the worker's dead letters of the bad results")
    alive(plant.children["worker"])
    # A restarted writer reads results and intents at assignment, then acts after what it committed.
    old = plant.children.pop("writer")
    assert old.stop(timeout=20) == 0, log_text(old)[-3000:]
    plant.start("writer")
    wait_until(lambda: "command writer took" in log_text(plant.children["writer"])
               or not plant.children["writer"].alive(), 120,
               what="the restarted writer assigned its partitions")
    applied(plant, 1.3)
    alive(plant.children["writer"])
    alive(plant.children["worker"])
