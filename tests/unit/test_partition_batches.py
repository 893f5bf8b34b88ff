"""The batch-delivering consumer acknowledges a fetch's slices only once their changelog sends are under way.

Offsets acknowledged are what Faust commits; committing a slice whose table changes the
producer does not yet hold would let a crash lose them for good (the redelivered events
are skipped per key). These tests drive the consumer's delivery with a hand-made fetch.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import faust
import pytest
from faust.types import TP

from factory_app.partition_batches import install


def records(tp: TP, offsets):
    return [SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=o, key=b"k", value=b"v", timestamp=0,
                            timestamp_type=0, headers=[], checksum=None, serialized_key_size=1, serialized_value_size=1)
            for o in offsets]


async def settled(consumer) -> None:
    """Until every pending fetch's callbacks have run."""
    await asyncio.gather(*consumer._settling, return_exceptions=True)
    await asyncio.sleep(0)


@pytest.fixture
def consumer_with(tmp_path):
    """A Faust app whose consumer hands topic "t" to ``handler`` (nothing is started or connected)."""
    def make(handler):
        app = faust.App("batch-test", broker="kafka://127.0.0.1:9", datadir=str(tmp_path), store="memory://")
        install(app, {"t"}, handler)
        app.topics._acking_topics.add("t")  # what the conductor records for a subscribed topic
        return app.consumer
    return make


@pytest.mark.asyncio
async def test_a_slice_is_acknowledged_when_its_sends_are_under_way_not_before(consumer_with):
    tp = TP("t", 0)
    sent = asyncio.get_running_loop().create_future()
    seen = []

    async def handler(batches):
        seen.extend(batches)
        return {tp: sent}

    consumer = consumer_with(handler)
    await consumer._deliver_batches([(tp, records(tp, range(10, 15)))])
    assert [t for t, _ in seen] == [tp] and [r.offset for r in seen[0][1]] == [10, 11, 12, 13, 14]
    assert list(consumer._acked[tp]) == []  # folded, but the changelog is not with the producer yet
    assert consumer._unacked_messages  # a revocation would wait for it
    sent.set_result(None)
    await settled(consumer)
    assert sorted(consumer._acked[tp]) == [10, 11, 12, 13, 14]
    assert not consumer._unacked_messages
    assert consumer._read_offset[tp] == 14


@pytest.mark.asyncio
async def test_a_failed_send_acknowledges_nothing(consumer_with):
    tp = TP("t", 1)
    sent = asyncio.get_running_loop().create_future()

    async def handler(batches):
        return {tp: sent}

    consumer = consumer_with(handler)
    await consumer._deliver_batches([(tp, records(tp, range(3)))])
    sent.set_exception(RuntimeError("changelog send failed"))
    await settled(consumer)
    assert list(consumer._acked[tp]) == []
    assert not consumer._unacked_messages  # the worker is stopping; nothing is left waiting


@pytest.mark.asyncio
async def test_offsets_skipped_by_the_log_are_acknowledged_with_the_next_slice(consumer_with):
    tp = TP("t", 2)

    async def handler(batches):
        return {tp: None}  # nothing to send: acknowledged at once

    consumer = consumer_with(handler)
    await consumer._deliver_batches([(tp, records(tp, [0, 1, 2]))])
    # Offset 3 is a transaction marker or was compacted away: the next slice starts at 4.
    await consumer._deliver_batches([(tp, records(tp, [4, 5]))])
    assert sorted(set(consumer._acked[tp])) == [0, 1, 2, 3, 4, 5]
    assert consumer._new_offset(tp) == 6  # what a commit would now commit: no gap holds it back


@pytest.mark.asyncio
async def test_offsets_skipped_by_the_log_do_not_stop_commits_on_the_per_message_path(consumer_with):
    """Topics no batch handler takes (the command ledger's) go through Faust's per-message path,
    whose commit passes only offsets it saw acknowledged or recorded as a gap. Offset 31 is a
    commit marker, 32 an aborted record, 33 its abort marker (seen on a central worker, whose
    commits then stopped at 31 for good)."""
    tp = TP("u", 1)

    async def handler(batches):
        return {}

    consumer = consumer_with(handler)
    consumer.app.topics._acking_topics.add("u")

    async def stream_acks(message):  # what the agent's stream does once it has taken the event
        consumer.ack(message)

    consumer.callback = stream_acks
    consumer._committed_offset[tp] = 31
    consumer._read_offset[tp] = 31  # as the seek to the committed offset leaves it
    await consumer._deliver_each(tp, records(tp, [34, 35, 36]))
    assert consumer._read_offset[tp] == 36
    assert consumer._new_offset(tp) == 37  # would be None (nothing to commit) without the gap


@pytest.mark.asyncio
async def test_a_revocation_waits_for_a_batch_in_progress_without_crashing(consumer_with, monkeypatch):
    """Faust's ``wait_empty`` (run by every revocation) reads the unacked set's members as Messages:
    with a batch in progress it crashed the worker (AttributeError: '_InFlight' has no 'acked')."""
    tp = TP("t", 3)
    sent = asyncio.get_running_loop().create_future()

    async def handler(batches):
        return {tp: sent}

    consumer = consumer_with(handler)
    commits = []

    async def commit(*args, **kwargs):  # no broker here: record that Faust committed
        commits.append(kwargs)
        return True
    monkeypatch.setattr(consumer, "commit", commit)
    await consumer._deliver_batches([(tp, records(tp, range(5)))])
    consumer._clean_unacked_messages()  # what wait_empty runs after each 1-s wait
    assert len(consumer._unacked_messages) == 1, "a batch in progress must stay waited for"
    assert "in progress" in repr([(m.refcount, m) for m in consumer._unacked_messages])  # its warning line
    waiting = asyncio.ensure_future(consumer.wait_empty())
    await asyncio.sleep(0.05)
    assert not waiting.done(), "the revocation went on while the batch's sends were under way"
    sent.set_result(None)
    await asyncio.wait_for(waiting, 5)
    assert sorted(consumer._acked[tp]) == [0, 1, 2, 3, 4]
    assert commits, "wait_empty commits what was acknowledged"


@pytest.mark.asyncio
@pytest.mark.parametrize("error", ["IllegalStateError", "AssertionError"])
async def test_a_seek_overtaken_by_a_rebalance_does_not_end_the_worker(consumer_with, monkeypatch, error):
    """aiokafka's seek_to_committed awaits each committed offset before seeking it: a revocation in
    between raises IllegalStateError ("No current assignment"), seen ending a worker in CI."""
    from aiokafka.errors import IllegalStateError

    async def handler(batches):
        return {}

    consumer = consumer_with(handler)
    raised = {"IllegalStateError": IllegalStateError("No current assignment for partition t:0"),
              "AssertionError": AssertionError("No partitions are currently assigned")}[error]

    async def seek_to_committed():
        raise raised
    monkeypatch.setattr(consumer, "seek_to_committed", seek_to_committed)
    await consumer.perform_seek()  # logged, not raised

    async def other_fault():
        raise RuntimeError("broker gone")
    monkeypatch.setattr(consumer, "seek_to_committed", other_fault)
    with pytest.raises(RuntimeError):
        await consumer.perform_seek()  # anything else still surfaces
