"""The supervisor's hanging-transaction sweep on a real broker with real hanging transactions.

A hanging transaction is made the way it arises: records of an open transaction land on a
partition the transaction's coordinator does not know of, so no marker ever ends it. Here a
transactional producer skips AddPartitionsToTxn, on a broker that does not verify transactional
writes (``transaction.partition.verification.enable=false``; the protection KIP-890 added and
which the mirror's outage still got past). Then the sweep, as the supervisor runs it (Kafka's
TransactionsCommand from the mirror's jar folder), must abort the one on the mirror's topic,
and only that one.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from factory_app import kafka_clients
from factory_app.children import wait_until
from factory_app.mirror.process import MirrorMaker
from factory_app.mirror.sites import SitesConfig
from factory_app.mirror.supervisor import ABORTED, HangingSweeper, supervise
from tests.conftest import JAR_HOME, started_broker

pytestmark = pytest.mark.integration

SITE = "plant-x"
MIRRORED = f"{SITE}.factory.telemetry"  # a site's topic as the mirror writes it centrally
FOREIGN = "someone-elses.topic"  # on the same cluster, not the mirror's


@pytest.fixture(scope="module")
def unverified_broker(tmp_path_factory):
    broker = started_broker(tmp_path_factory.mktemp("hanging-kafka"),
                            extra=(("transaction.partition.verification.enable", "false"),))
    try:
        yield broker
    finally:
        broker.stop(timeout=20)


async def leave_hanging(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Write ``values`` in a transaction whose coordinator never learns of ``topic``: it never
    writes a marker there (nor could it be asked to: it holds the transaction empty)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"hang-{topic}")
    await producer.start()
    try:
        txn = producer._txn_manager  # fault injection: the partition counts as added, unasked
        txn.maybe_add_partition_to_txn = lambda tp: txn._txn_partitions.add(tp)
        await producer.begin_transaction()
        for value in values:
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()


async def committed_and_end(bootstrap: str, topic: str) -> tuple[int, int, list[bytes]]:
    """(last stable offset, high watermark, committed values) of partition 0."""
    tp = TopicPartition(topic, 0)
    ends = {}
    for isolation in ("read_committed", "read_uncommitted"):
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False)
        await consumer.start()
        try:
            ends[isolation] = (await consumer.end_offsets([tp]))[tp]
            values = []
            if isolation == "read_committed":
                consumer.assign([tp])
                consumer.seek(tp, 0)
                while await consumer.position(tp) < ends[isolation]:
                    for records in (await consumer.getmany(timeout_ms=1000)).values():
                        values += [r.value for r in records]
                committed = values
        finally:
            await consumer.stop()
    return ends["read_committed"], ends["read_uncommitted"], committed


async def append(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()


def test_the_sweep_aborts_the_mirrors_hanging_transactions_only(unverified_broker, tmp_path):
    bootstrap = unverified_broker.cfg.bootstrap
    asyncio.run(kafka_clients.ensure_topics(bootstrap, [kafka_clients.TopicSpec(t, 1, 1) for t in (MIRRORED, FOREIGN)]))
    for topic in (MIRRORED, FOREIGN):
        asyncio.run(append(bootstrap, topic, b"before"))
        asyncio.run(leave_hanging(bootstrap, topic, [b"hanging-1", b"hanging-2"]))
        asyncio.run(append(bootstrap, topic, b"after"))
        stable, end, committed = asyncio.run(committed_and_end(bootstrap, topic))
        # The precondition: the transaction hangs, read-committed readers stop before it.
        assert (stable, end, committed) == (1, 4, [b"before"]), topic

    config = SitesConfig.model_validate({"central": {"bootstrap": bootstrap},
                                         "sites": [{"name": SITE, "bootstrap": "127.0.0.1:9"}]})
    sweeper = HangingSweeper(MirrorMaker(config, tmp_path / "mirror", JAR_HOME), sweep_s=20, started=1000.0,
                             confirm_s=60)
    # First listing: noted, not yet aborted (it could be a live transaction seen mid-commit).
    assert asyncio.run(sweeper.sweep(now=1000.0)) == 0
    assert asyncio.run(committed_and_end(bootstrap, MIRRORED))[0] == 1
    assert sweeper.wanted(quiet_s=0, now=1059.0) is False and sweeper.wanted(quiet_s=0, now=1060.0) is True
    # Listed again a transaction timeout later at the same start offset: aborted.
    assert asyncio.run(sweeper.sweep(now=1060.0)) == 1
    stable, end, committed = asyncio.run(committed_and_end(bootstrap, MIRRORED))
    assert committed == [b"before", b"after"] and stable == end  # the abort marker took an offset
    # Someone else's topic is left as it was.
    assert asyncio.run(committed_and_end(bootstrap, FOREIGN))[:3] == (1, 4, [b"before"])
    assert asyncio.run(sweeper.sweep(now=1200.0)) == 0


def test_the_supervisor_frees_a_mirrored_topic_a_hanging_transaction_blocks(unverified_broker, tmp_path):
    """The whole loop with a real MirrorMaker: a hanging transaction at the head of the central
    copy of a site's telemetry hides everything the mirror commits behind it from the central
    workers, while the mirror itself moves on. The supervisor's periodic sweep finds it, aborts
    it when listed again, and the site's records become readable centrally."""
    bootstrap = unverified_broker.cfg.bootstrap
    site = "plant-y"  # the broker is both the site and the centre: the site's topics are hy.*
    central_topic = f"{site}.hy.telemetry"
    site_topics = [f"hy.{t}" for t in ("telemetry", "commands", "command-results")]
    asyncio.run(kafka_clients.ensure_topics(bootstrap, [kafka_clients.TopicSpec(t, 1, 1)
                                                        for t in (*site_topics, central_topic)]))
    asyncio.run(leave_hanging(bootstrap, central_topic, [b"from-a-dead-producer"]))
    values = [f"event-{i}".encode() for i in range(20)]
    for value in values:
        asyncio.run(append(bootstrap, "hy.telemetry", value))
    assert asyncio.run(committed_and_end(bootstrap, central_topic))[0] == 0  # hidden from committed readers

    config = SitesConfig.model_validate({"central": {"bootstrap": bootstrap},
                                         "sites": [{"name": site, "bootstrap": bootstrap, "topic_prefix": "hy."}]})
    mirror = MirrorMaker(config, tmp_path / "mirror", JAR_HOME, die_with_parent=True)

    # The supervisor on its own event loop in a thread; this thread waits on the condition.
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    supervisor = threading.Thread(target=loop.run_until_complete, args=(
        supervise(mirror, stop, check_s=1, stall_s=600, sweep_s=600, sweep_every_s=3, confirm_s=4),), daemon=True)
    before = ABORTED._value.get()
    supervisor.start()
    try:
        wait_until(lambda: len(asyncio.run(committed_and_end(bootstrap, central_topic))[2]) >= len(values), 240,
                   interval=1, what=f"the site's records readable centrally (mirror log {mirror.files.log_file})",
                   abort=lambda: None if supervisor.is_alive() else "the supervisor ended")
    finally:
        loop.call_soon_threadsafe(stop.set)
        supervisor.join(60)
        if not supervisor.is_alive():
            loop.close()
        mirror.stop(kill=True)
    committed = asyncio.run(committed_and_end(bootstrap, central_topic))[2]
    assert committed == values  # each once, in the site's order; the dead producer's record aborted
    assert ABORTED._value.get() - before == 1
