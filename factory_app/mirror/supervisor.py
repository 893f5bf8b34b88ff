"""Keep MirrorMaker 2 running and moving: restart it when it exits or a site's mirroring stalls.

Seen here (docs/edge-to-cloud.md): after the central cluster came back from an outage,
MirrorMaker's task for one of two sites stayed stuck (its old task "failed to properly shut
down, has become unresponsive") and mirrored nothing more, while the process looked alive.
A restart resumes from the offsets it committed; in exactly-once mode nothing is doubled.
So the supervisor watches what matters, progress: a site with records to mirror whose
mirrored position has not moved for ``stall_s`` while both ends answer is restarted.
In exactly-once mode it also looks for the mirror's hanging transactions, which no restart
clears (when a site is quiet for ``sweep_s``, and every ``sweep_every_s``), and aborts each
one listed again a transaction timeout later (factory_app/mirror/hanging.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

from factory_app import kafka_clients
from factory_app.mirror.hanging import CONFIRM_S, HangingWatch, TransactionsTool, sweep
from factory_app.mirror.mm2_config import admin_properties
from factory_app.mirror.process import MirrorMaker, ensure_mirror_jars
from factory_app.mirror.status import SiteStatus, mirror_status

log = logging.getLogger(__name__)

LAG = Gauge("factory_mirror_lag_records", "Site records not yet mirrored centrally (per the last offset sync).", ["site"])
MIRRORED = Gauge("factory_mirror_mirrored_records", "Site records mirrored centrally (per the last offset sync).", ["site"])
SYNC_AGE = Gauge("factory_mirror_last_sync_age_seconds", "Seconds since MirrorMaker last synced a site's offsets.",
                 ["site"])
REACHABLE = Gauge("factory_mirror_site_reachable", "1 when the site's cluster answered the last check.", ["site"])
RESTARTS = Counter("factory_mirror_restarts_total", "MirrorMaker restarts by the supervisor, by reason.", ["reason"])
ABORTED = Counter("factory_mirror_hanging_transactions_aborted_total",
                  "Hanging transactions on the mirror's central topics aborted by the supervisor.")
SWEEP_FAILURES = Counter("factory_mirror_hanging_sweep_failures_total",
                         "Hanging-transaction sweeps that could not ask the central cluster.")


@dataclass
class StallWatch:
    """Per site: when its mirrored position last moved (or it had nothing to mirror). Pure."""

    stall_s: float
    _since: dict[str, tuple[int, float]] = field(default_factory=dict)

    def stalled(self, statuses: list[SiteStatus], now: float) -> list[str]:
        """Sites with records to mirror whose position has not moved for ``stall_s``."""
        out = []
        for s in statuses:
            mirrored = s.as_dict()["mirrored"]
            previous = self._since.get(s.site)
            if not s.reachable or not s.lag or previous is None or mirrored != previous[0]:
                self._since[s.site] = (mirrored, now)
            elif now - previous[1] >= self.stall_s:
                out.append(s.site)
        return out

    def quiet_s(self, now: float) -> float:
        """The longest a site with records to mirror has not moved (as of the last ``stalled``)."""
        return max((now - since for _, since in self._since.values()), default=0.0)

    def reset(self, now: float) -> None:
        self._since = {site: (mirrored, now) for site, (mirrored, _) in self._since.items()}


def publish(statuses: list[SiteStatus], now: float) -> None:
    for s in statuses:
        d = s.as_dict()
        REACHABLE.labels(s.site).set(1 if s.reachable else 0)
        MIRRORED.labels(s.site).set(d["mirrored"])
        if d["lag"] is not None:
            LAG.labels(s.site).set(d["lag"])
        if d["last_sync"] is not None:
            SYNC_AGE.labels(s.site).set(max(0.0, now - d["last_sync"]))


class HangingSweeper:
    """When to look for the mirror's hanging transactions, and doing it (exactly-once only).

    A site that stops moving is the usual sign (MirrorMaker's own offsets reader is blocked);
    a hanging transaction on a mirrored topic alone leaves the mirror moving while the central
    workers, reading committed records, stop at it: hence also a sweep every ``every_s``."""

    def __init__(self, mirror: MirrorMaker, sweep_s: float, *, started: float, every_s: float = 300.0,
                 confirm_s: float = CONFIRM_S):
        self.mirror, self.sweep_s, self.every_s = mirror, sweep_s, every_s
        self.watch = HangingWatch(confirm_s)
        self.last = started
        self._tool: TransactionsTool | None = None

    def wanted(self, quiet_s: float, now: float) -> bool:
        since = now - self.last
        return self.watch.due(now) or since >= self.every_s or (quiet_s >= self.sweep_s and since >= self.sweep_s)

    async def sweep(self, now: float) -> int:
        """Transactions aborted by this sweep (0 also when the central cluster did not answer)."""
        self.last = now
        config = self.mirror.config
        try:
            if self._tool is None:
                self._tool = TransactionsTool(ensure_mirror_jars(self.mirror.jar_home), config.central.bootstrap,
                                              self.mirror.files.root / "tools",
                                              admin_properties(config, self.mirror.files.secrets))
            brokers = await kafka_clients.broker_ids_async(config.central.kafka)
            aborted = await sweep(self._tool, self.watch, brokers, [s.name for s in config.sites], now)
        except Exception as exc:  # noqa: BLE001 - the centre not answering (or no tool) is retried next sweep
            log.info("could not look for hanging transactions: %s", exc)
            SWEEP_FAILURES.inc()
            return 0
        ABORTED.inc(len(aborted))
        return len(aborted)


async def supervise(mirror: MirrorMaker, stop: asyncio.Event, *, check_s: float = 5.0, stall_s: float = 60.0,
                    sweep_s: float = 20.0, sweep_every_s: float = 300.0, confirm_s: float = CONFIRM_S) -> None:
    """Run ``mirror`` until ``stop``; restart it when it exits or a site stalls; in exactly-once
    mode, abort the mirror's hanging transactions (looked for when a site is quiet for
    ``sweep_s`` and every ``sweep_every_s``; aborted when listed again ``confirm_s`` later)."""
    watch = StallWatch(stall_s)
    sweeper = (HangingSweeper(mirror, sweep_s, started=time.time(), every_s=sweep_every_s, confirm_s=confirm_s)
               if mirror.config.mirror.exactly_once else None)
    cursors: dict = {}  # the offset syncs read so far, per site: each check reads only the new ones
    mirror.start()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), check_s)
                break
            except asyncio.TimeoutError:
                pass
            now = time.time()
            if mirror.pid() is None:
                log.warning("MirrorMaker is not running (exited or killed); starting it again")
                RESTARTS.labels("exited").inc()
                mirror.start()
                watch.reset(now)
                continue
            try:
                statuses = await mirror_status(mirror.config, timeout=5, cursors=cursors)
            except Exception as exc:  # noqa: BLE001 - the central cluster does not answer: nothing to judge
                log.info("central cluster not answering (%s); MirrorMaker retries by itself", exc)
                watch.reset(now)
                continue
            publish(statuses, now)
            stalled = watch.stalled(statuses, now)
            if sweeper is not None and sweeper.wanted(watch.quiet_s(now), now) and await sweeper.sweep(now):
                # Its offsets reader may have given up on the blocked partition: start afresh.
                log.warning("restarting MirrorMaker after aborting hanging transactions")
                RESTARTS.labels("hanging").inc()
                mirror.stop(timeout=20)
                mirror.start()
                watch.reset(time.time())
                continue
            if stalled:
                log.warning("mirroring of %s has not moved for %.0f s with records to mirror; restarting MirrorMaker",
                            ", ".join(stalled), stall_s)
                RESTARTS.labels("stalled").inc()
                mirror.stop(timeout=20)
                mirror.start()
                watch.reset(now)
    finally:
        mirror.stop()
