"""Find and abort hanging transactions on the mirror's central topics: Kafka's remedy, automated.

Seen here (docs/edge-to-cloud.md): after a central outage, an exactly-once MirrorMaker's task
producers left transactions open on central partitions (their telemetry copies and
``mm2-offsets.SITE.internal``) that their coordinator had already aborted. Such a partition's
last stable offset never moves again, so every read-committed reader stops there, MirrorMaker's
own offsets reader first, and no restart helps. Kafka's answer is an administrator running
``kafka-transactions.sh find-hanging`` and ``abort``; the supervisor runs the same tool
(``org.apache.kafka.tools.TransactionsCommand``, from the mirror's jar folder).

A live transaction can be listed for an instant (it completes between the tool's two
questions to the cluster), so a listed one is aborted only when it is listed again, at the same
start offset, more than a transaction timeout later: by then the coordinator has ended every
live transaction that old. And only on the mirror's own topics: the supervisor touches nothing
it does not own.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from factory_app.broker.java import java_command, write_log4j_config

log = logging.getLogger(__name__)

TOOL = "org.apache.kafka.tools.TransactionsCommand"
# Transactions the coordinator still runs stay open at most their timeout (MirrorMaker's
# producers keep Kafka's 60 s) plus the coordinator's 10 s abort sweep; the margin is ours.
CONFIRM_S = 60 + 10 + 15


@dataclass(frozen=True)
class OpenTransaction:
    """One transaction left open on one partition, as find-hanging lists it."""

    topic: str
    partition: int
    producer_id: int
    start_offset: int


def parse_find_hanging(text: str) -> list[OpenTransaction]:
    """The rows of find-hanging's table (header ``Topic Partition ProducerId ProducerEpoch
    CoordinatorEpoch StartOffset LastTimestamp Duration(min)``); other lines are ignored."""
    rows, columns = [], None
    for line in text.splitlines():
        cells = line.split()
        if cells[:2] == ["Topic", "Partition"]:
            columns = {name: i for i, name in enumerate(cells)}
            continue
        if columns is None or len(cells) != len(columns):
            continue
        try:
            rows.append(OpenTransaction(cells[columns["Topic"]], int(cells[columns["Partition"]]),
                                        int(cells[columns["ProducerId"]]), int(cells[columns["StartOffset"]])))
        except (KeyError, ValueError):
            continue
    return rows


def owned_by_mirror(topic: str, sites: list[str]) -> bool:
    """A central topic the mirror writes: a site's mirrored topics (``SITE.…``, heartbeats and
    checkpoints included) and MirrorMaker's Connect topics for that site."""
    return any(topic.startswith(f"{site}.") or re.fullmatch(rf"mm2-[a-z-]+\.{re.escape(site)}\.internal", topic)
               for site in sites)


def abort_order(txn: OpenTransaction) -> tuple[bool, str, int]:
    """MirrorMaker's own topics (its source offsets) before the mirrored records. Seen: a
    transaction the tool listed as hanging was committed by its coordinator after the sweep had
    aborted its offsets half (one record then mirrored twice; the folds' event-id guard skipped
    it). Aborted in this order, such a split can only re-send records, never drop them, which
    committed offsets over aborted records would."""
    return (not txn.topic.startswith("mm2-"), txn.topic, txn.partition)


@dataclass
class HangingWatch:
    """When each listed transaction was first listed; which have been listed long enough. Pure."""

    confirm_s: float = CONFIRM_S
    _first: dict[OpenTransaction, float] = field(default_factory=dict)

    def listed(self, open_now: list[OpenTransaction], now: float) -> list[OpenTransaction]:
        """Record this listing (one no longer listed is forgotten); the ones to abort."""
        self._first = {t: self._first.get(t, now) for t in open_now}
        return [t for t, first in self._first.items() if now - first >= self.confirm_s]

    def due(self, now: float) -> bool:
        """A listed transaction has waited long enough to be listed again and judged."""
        return any(now - first >= self.confirm_s for first in self._first.values())

    def forget(self, txn: OpenTransaction) -> None:
        self._first.pop(txn, None)


class TransactionsTool:
    """Kafka's TransactionsCommand against the central cluster, one short ``java`` run per call."""

    def __init__(self, libs: Path, bootstrap: str, work_dir: Path, admin_properties: str = "", timeout: float = 120.0):
        self.libs, self.bootstrap, self.timeout = libs, bootstrap, timeout
        work_dir.mkdir(parents=True, exist_ok=True)
        # Warnings only: a stuck mirror is swept every few seconds, each run would log its whole config.
        self.log4j = write_log4j_config(work_dir / "tools-log4j2.properties", work_dir / "logs" / "tools.log", "WARN")
        self.command_config = work_dir / "central-admin.properties"
        self.command_config.write_text(admin_properties)
        self.logs_dir = work_dir / "logs"

    async def _run(self, *args: str) -> str:
        cmd = java_command(self.libs, TOOL, "--bootstrap-server", self.bootstrap,
                           "--command-config", str(self.command_config), *args,
                           heap="256m", log4j_config=self.log4j, logs_dir=self.logs_dir)
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE,
                                                    stdin=asyncio.subprocess.DEVNULL)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"{TOOL} {args[0]} failed (exit {proc.returncode}): "
                               f"{(err or out).decode(errors='replace').strip()[-500:]}")
        return out.decode(errors="replace")

    async def find_hanging(self, broker_id: int) -> list[OpenTransaction]:
        # Every open transaction the coordinator does not account for, however young: the
        # watch, not the tool's age filter (minutes, and against record timestamps, which a
        # mirror copies from the site), decides what is old enough.
        return parse_find_hanging(await self._run("find-hanging", "--broker-id", str(broker_id),
                                                  "--max-transaction-timeout", "0"))

    async def abort(self, txn: OpenTransaction) -> None:
        await self._run("abort", "--topic", txn.topic, "--partition", str(txn.partition),
                        "--start-offset", str(txn.start_offset))


def ended_meanwhile(refusal: str) -> bool:
    """An abort refused because the transaction is no longer open as listed: none open at that
    offset, or its producer has moved to a newer epoch on the partition (the transaction was
    completed, seen after a central outage: its other half had just been aborted). Pure."""
    return "Could not find any open transactions" in refusal or "invalid producer epoch" in refusal


async def sweep(tool: TransactionsTool, watch: HangingWatch, broker_ids: list[int], sites: list[str],
                now: float) -> list[OpenTransaction]:
    """List the mirror's hanging transactions on every central broker, abort the confirmed ones;
    returns those aborted. A failed abort is logged and tried again at the next sweep."""
    found: set[OpenTransaction] = set()
    for broker in broker_ids:
        found |= {t for t in await tool.find_hanging(broker) if owned_by_mirror(t.topic, sites)}
    ordered = sorted(found, key=abort_order)
    confirmed = watch.listed(ordered, now)
    for txn in (t for t in ordered if t not in confirmed):
        log.warning("hanging transaction listed on %s[%d] (producer %d, open since offset %d): aborted if "
                    "still listed %.0f s after its first listing", txn.topic, txn.partition, txn.producer_id,
                    txn.start_offset, watch.confirm_s)
    aborted = []
    for txn in confirmed:
        try:
            await tool.abort(txn)
        except RuntimeError as exc:
            if ended_meanwhile(str(exc)):
                log.info("the transaction on %s[%d] open since offset %d has ended (%s)", txn.topic, txn.partition,
                         txn.start_offset, exc)
                watch.forget(txn)  # listed again if it still hangs: judged afresh
            else:
                log.error("could not abort the hanging transaction %s: %s", txn, exc)
            continue
        log.warning("aborted a hanging transaction on %s[%d] (producer %d, open since offset %d)",
                    txn.topic, txn.partition, txn.producer_id, txn.start_offset)
        watch.forget(txn)
        aborted.append(txn)
    return aborted
