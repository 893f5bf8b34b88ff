"""Reading find-hanging's table, what the mirror owns, when a listed transaction may be aborted."""

from __future__ import annotations

import asyncio

from factory_app.mirror.hanging import (HangingWatch, OpenTransaction, abort_order, owned_by_mirror,
                                        parse_find_hanging, sweep)
from factory_app.mirror.process import MirrorMaker
from factory_app.mirror.sites import SitesConfig
from factory_app.mirror.status import PartitionStatus, SiteStatus
from factory_app.mirror.supervisor import HangingSweeper, StallWatch

# As TransactionsCommand prints it: columns padded to the widest cell, each followed by a tab.
TABLE = (
    "Topic                          \tPartition\tProducerId\tProducerEpoch\tCoordinatorEpoch\tStartOffset\t"
    "LastTimestamp\tDuration(min)\t\n"
    "plant-b.factory.telemetry      \t3        \t1003      \t0            \t-1              \t4512       \t"
    "1795936552223\t4            \t\n"
    "mm2-offsets.plant-b.internal   \t11       \t1004      \t2            \t5               \t88         \t"
    "1795936552301\t4            \t\n"
)


def test_parses_every_row_of_the_table():
    assert parse_find_hanging(TABLE) == [OpenTransaction("plant-b.factory.telemetry", 3, 1003, 4512),
                                         OpenTransaction("mm2-offsets.plant-b.internal", 11, 1004, 88)]


def test_an_empty_table_and_stray_lines_give_nothing():
    header = TABLE.splitlines()[0]
    assert parse_find_hanging(header + "\n") == []
    assert parse_find_hanging("") == []
    # A log line before the table, a torn row after it: neither is a transaction.
    assert parse_find_hanging("[2026-11-29] WARN something (x)\n" + header + "\nplant-b.t\t3\t1003\n") == []
    assert parse_find_hanging(header + "\nplant-b.t\tthree\t1\t0\t-1\t5\t1\t0\t\n") == []


def test_only_the_mirrors_own_topics_are_its_to_abort():
    sites = ["plant-a", "plant-b"]
    for topic in ("plant-a.factory.telemetry", "plant-b.heartbeats", "plant-a.checkpoints.internal",
                  "mm2-offsets.plant-b.internal", "mm2-configs.plant-a.internal", "mm2-offset-syncs.plant-b.internal"):
        assert owned_by_mirror(topic, sites), topic
    for topic in ("plant-c.factory.telemetry", "factory.telemetry", "mm2-offsets.plant-c.internal",
                  "plant-ab.factory.telemetry", "mm2-offsets.plant-a.internal.x", "__transaction_state"):
        assert not owned_by_mirror(topic, sites), topic


def test_a_transaction_is_aborted_only_when_still_listed_after_the_confirmation_time():
    a, b = OpenTransaction("plant-a.t", 0, 7, 100), OpenTransaction("plant-a.t", 1, 7, 200)
    watch = HangingWatch(confirm_s=85)
    assert watch.listed([a], now=0) == [] and not watch.due(84)
    assert watch.listed([a, b], now=50) == []
    assert watch.due(85)
    assert watch.listed([a, b], now=85) == [a]
    # b ended by itself (no longer listed), then shows up again: its clock starts over.
    assert watch.listed([a], now=100) == [a]
    assert watch.listed([a, b], now=120) == [a]
    watch.forget(a)
    assert watch.listed([b], now=150) == [] and watch.listed([b], now=205) == [b]
    # The same partition with a new start offset is a different transaction.
    assert watch.listed([OpenTransaction("plant-a.t", 1, 7, 300)], now=206) == []


def status(site: str, mirrored: int, site_end: int) -> SiteStatus:
    return SiteStatus(site, True, [PartitionStatus("factory.telemetry", 0, site_end, mirrored, None)])


def test_quiet_time_is_that_of_the_longest_stuck_site_with_records_to_mirror():
    watch = StallWatch(stall_s=60)
    assert watch.quiet_s(0) == 0
    watch.stalled([status("a", 10, 20), status("b", 5, 5)], now=0)
    watch.stalled([status("a", 10, 30), status("b", 5, 5)], now=25)
    assert watch.quiet_s(25) == 25  # a has not moved; b has nothing to mirror
    watch.stalled([status("a", 11, 30), status("b", 5, 9)], now=30)
    watch.stalled([status("a", 11, 30), status("b", 5, 9)], now=40)
    assert watch.quiet_s(40) == 15  # b: nothing to mirror at 25, not moved since
    watch.reset(41)
    assert watch.quiet_s(41) == 0


def test_the_supervisor_sweeps_when_a_site_is_quiet_every_few_minutes_and_when_a_listing_is_due(tmp_path):
    config = SitesConfig.model_validate({"central": {"bootstrap": "127.0.0.1:9"},
                                         "sites": [{"name": "plant-a", "bootstrap": "127.0.0.1:9"}]})
    sweeper = HangingSweeper(MirrorMaker(config, tmp_path, tmp_path), sweep_s=20, started=0, every_s=300,
                             confirm_s=85)
    assert not sweeper.wanted(quiet_s=19, now=30)
    assert sweeper.wanted(quiet_s=20, now=30)
    sweeper.last = 30  # swept then
    assert not sweeper.wanted(quiet_s=40, now=45)  # not again within sweep_s
    assert sweeper.wanted(quiet_s=40, now=50)
    assert not sweeper.wanted(quiet_s=0, now=329) and sweeper.wanted(quiet_s=0, now=330)  # every_s
    sweeper.watch.listed([OpenTransaction("plant-a.t", 0, 7, 100)], now=30)
    assert not sweeper.wanted(quiet_s=0, now=114) and sweeper.wanted(quiet_s=0, now=115)  # to be listed again


def test_mirrormakers_offsets_are_aborted_before_the_mirrored_records():
    # Whatever the site is called: a split transaction may re-send records, never lose them.
    txns = [OpenTransaction("a-site.factory.telemetry", 1, 5, 3335),
            OpenTransaction("mm2-offsets.a-site.internal", 21, 5, 48),
            OpenTransaction("a-site.factory.commands", 0, 5, 10)]
    assert [t.topic for t in sorted(txns, key=abort_order)] == [
        "mm2-offsets.a-site.internal", "a-site.factory.commands", "a-site.factory.telemetry"]


class ScriptedTool:
    """Kafka's TransactionsCommand as a script: what find-hanging lists, how each abort ends."""

    def __init__(self, listed: list[OpenTransaction], refusals: dict[OpenTransaction, str]):
        self.listed, self.refusals, self.aborted = listed, refusals, []

    async def find_hanging(self, broker_id: int) -> list[OpenTransaction]:
        return list(self.listed)

    async def abort(self, txn: OpenTransaction) -> None:
        if txn in self.refusals:
            raise RuntimeError(f"TransactionsCommand abort failed (exit 1): {self.refusals[txn]}")
        self.aborted.append(txn)


def test_a_refused_abort_of_a_transaction_that_ended_meanwhile_is_forgotten_any_other_is_retried():
    done = OpenTransaction("plant-b.factory.telemetry", 0, 5, 4674)
    moved_on = OpenTransaction("plant-b.factory.telemetry", 1, 5, 4000)
    refused = OpenTransaction("plant-b.factory.telemetry", 2, 5, 3000)
    hanging = OpenTransaction("mm2-offsets.plant-b.internal", 19, 5, 2034)
    tool = ScriptedTool([done, moved_on, refused, hanging], {
        done: "Could not find any open transactions starting at offset 4674 on partition plant-b.factory.telemetry-0",
        moved_on: "Failed to abort transaction AbortTransactionSpec(...): WriteTxnMarkers request with "
                  "AbortTransactionSpec(...) failed due an invalid producer epoch.",
        refused: "Failed to abort transaction: Cluster authorization failed."})
    watch = HangingWatch(confirm_s=85)
    assert asyncio.run(sweep(tool, watch, [1], ["plant-b"], now=0)) == []
    assert asyncio.run(sweep(tool, watch, [1], ["plant-b"], now=85)) == [hanging]
    assert tool.aborted == [hanging]
    # The ended ones start their clock again if listed; the refused one is retried at once.
    tool.listed = [done, moved_on, refused]
    assert watch.listed(tool.listed, now=86) == [refused]
