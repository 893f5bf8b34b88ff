"""Per-asset lanes of the command writer: order, safety first, commits only of finished work."""

import asyncio

from aiokafka import TopicPartition

from adapters.lanes import NORMAL, SAFETY, Lane, OffsetTracker, rate_limit_wait

TP = TopicPartition("commands", 0)


def test_a_partition_commits_only_up_to_its_first_unfinished_command():
    t = OffsetTracker()
    for offset in range(5):
        t.started(TP, offset)
    for offset in (0, 1, 3, 4):  # 2 is still running in a slow lane
        t.done(TP, offset)
    assert t.committable() == {TP: 2}
    t.committed({TP: 2})
    assert t.committable() == {}
    t.done(TP, 2)
    assert t.committable() == {TP: 5}


def test_a_stop_goes_before_the_setpoints_waiting_in_its_lane_and_lanes_do_not_wait_for_each_other():
    async def scenario():
        order: list[str] = []
        release = asyncio.Event()
        busy = asyncio.Event()

        async def slow(item):
            if item == "first":
                busy.set()
                await release.wait()  # a PLC that does not answer yet
            order.append(item)

        async def quick(item):
            order.append(item)

        conveyor = Lane("conveyor", slow)
        oven = Lane("oven", quick)
        conveyor.put(NORMAL, "first")
        await busy.wait()  # the lane has taken "first" and waits on the PLC
        conveyor.put(NORMAL, "setpoint-1")
        conveyor.put(NORMAL, "setpoint-2")
        conveyor.put(SAFETY, "stop")
        oven.put(NORMAL, "oven-setpoint")
        assert await oven.drain(5)  # not held up by the conveyor's PLC
        assert order == ["oven-setpoint"]
        release.set()
        assert await conveyor.drain(5)
        await conveyor.close()
        await oven.close()
        return order

    assert asyncio.run(scenario()) == ["oven-setpoint", "first", "stop", "setpoint-1", "setpoint-2"]


def test_the_rate_limit_spaces_actuations_of_one_asset():
    assert rate_limit_wait(None, 0.05, 10.0) == 0.0
    assert abs(rate_limit_wait(10.0, 0.05, 10.01) - 0.04) < 1e-9
    assert rate_limit_wait(10.0, 0.05, 10.2) == 0.0
    assert rate_limit_wait(10.0, 0.0, 10.0) == 0.0


def test_a_forgotten_partition_commits_nothing_and_tolerates_late_completions():
    tp, other = TopicPartition("commands", 0), TopicPartition("commands", 1)
    t = OffsetTracker()
    for offset in (5, 6, 7):
        t.started(tp, offset)
    t.started(other, 3)
    assert t.floor(tp) == 5
    t.done(tp, 5)
    assert t.floor(tp) == 6
    t.forget([tp])  # handed over to another writer
    t.done(tp, 6)  # a lane finishing late must not bring it back
    assert t.committable() == {other: 3}
    assert t.floor(tp) is None  # nothing to confirm or commit for it
