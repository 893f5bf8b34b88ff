"""Operator actions are read with telemetry by record time (factory_app.replay.log_reader): a
rebuild's rules see a mode change where the live worker did, give or take its fetches."""

from __future__ import annotations

import asyncio

from factory_app.replay.log_reader import Record, interleaved, merged_into
from factory_app.settings import Settings


def rec(topic: str, offset: int, ts: int) -> Record:
    return Record(topic, 0, offset, ts, b"k", b"v")


def test_side_records_come_before_the_first_later_main_record_and_keep_their_order():
    main = [rec("t", 0, 10), rec("t", 1, 20), rec("t", 2, 20), rec("t", 3, 40)]
    side = [rec("m", 0, 5), rec("m", 1, 20), rec("m", 2, 30), rec("m", 3, 50), rec("m", 4, 50)]

    async def run():
        async def source():
            for r in main:
                yield r
        return [(r.topic, r.offset) async for r in interleaved(source(), side)]
    assert asyncio.run(run()) == [("m", 0), ("t", 0), ("m", 1), ("t", 1), ("t", 2), ("m", 2), ("t", 3),
                                  ("m", 3), ("m", 4)]


def test_operator_actions_are_read_with_telemetry():
    s = Settings(topic_prefix="site-a.")
    assert merged_into(s) == {"site-a.operator-actions": "site-a.telemetry"}
