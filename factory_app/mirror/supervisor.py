"""Keep MirrorMaker 2 running and moving: restart it when it exits or a site's mirroring stalls.

Seen here (docs/edge-to-cloud.md): after the central cluster came back from an outage,
MirrorMaker's task for one of two sites stayed stuck (its old task "failed to properly shut
down, has become unresponsive") and mirrored nothing more, while the process looked alive.
A restart resumes from the offsets it committed; in exactly-once mode nothing is doubled.
So the supervisor watches what matters, progress: a site with records to mirror whose
mirrored position has not moved for ``stall_s`` while both ends answer is restarted. That
clock runs only once MirrorMaker's tasks for the site run (their Connect status on the
central cluster, factory_app/mirror/tasks.py): restarting a MirrorMaker still starting was
seen to repeat until nothing was mirrored at all (issue 29, item 18).
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
from factory_app.mirror.tasks import running_since

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
    """Per site: when its mirrored position last moved (or it had nothing to mirror). Pure.

    A site's clock runs only once its mirror tasks have run since MirrorMaker (re)started
    (``running``): a starting MirrorMaker scans its plugins and joins its group first, over a
    minute on a busy machine, and restarting it for that only starts the wait again. A site
    whose tasks never run is restarted after ``start_s``. Each restart after which the sites
    it was for do not move doubles both windows (up to ``max_factor`` times): a mirror that
    cannot keep up, or one site that cannot be mirrored, does not have MirrorMaker restarted
    for every site faster than it can start."""

    stall_s: float
    start_s: float = 300.0
    max_factor: int = 8
    _since: dict[str, tuple[int, float]] = field(default_factory=dict)
    _started: float = 0.0  # when the running MirrorMaker was started
    _ran_at: dict[str, float] = field(default_factory=dict)  # site -> when its tasks were first seen running since
    restarts: int = 0  # restarts in a row without progress of the sites they were for
    _blamed: set[str] = field(default_factory=set)  # the sites the last of them was for

    @property
    def factor(self) -> int:
        return min(2 ** self.restarts, self.max_factor)

    def started(self, now: float) -> None:
        """MirrorMaker (re)started at ``now``: every clock waits for its tasks again."""
        self._started = now
        self._ran_at = {}
        self.reset(now)

    def restarted_for_no_progress(self, now: float, sites: list[str]) -> None:
        self.restarts += 1
        self._blamed = set(sites)
        self.started(now)

    @property
    def started_at(self) -> float:
        return self._started

    def running(self, site: str) -> bool:
        """Whether ``site``'s tasks have been seen running since the start."""
        return site in self._ran_at

    def stalled(self, statuses: list[SiteStatus], now: float, running: set[str] | frozenset[str] | None = None
                ) -> list[str]:
        """Sites with records to mirror whose position has not moved for the stall window since
        their tasks ran, or whose tasks have not run for the start window after the start.
        ``running``: sites whose tasks are seen running now (None: all of them)."""
        for site in ({s.site for s in statuses} if running is None else running):
            self._ran_at.setdefault(site, now)
        out = []
        for s in statuses:
            mirrored = s.as_dict()["mirrored"]
            previous = self._since.get(s.site)
            moved = previous is not None and mirrored != previous[0]
            if moved and s.site in self._blamed:
                self.restarts, self._blamed = 0, set()  # it moves again: the restart for it worked
            if not s.reachable or not s.lag or previous is None or moved:
                self._since[s.site] = (mirrored, now)
            elif s.site in self._ran_at:
                if now - max(previous[1], self._ran_at[s.site]) >= self.stall_s * self.factor:
                    out.append(s.site)
            elif now - self._started >= self.start_s * self.factor:
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


async def tasks_running(mirror: MirrorMaker, watch: StallWatch, since: float) -> set[str]:
    """The sites whose mirror tasks run, asked only for those not yet seen running since ``since``
    (a site whose status cannot be read counts as not running)."""
    out = set()
    for site in mirror.config.sites:
        if watch.running(site.name):
            continue
        try:
            if await asyncio.wait_for(running_since(mirror.config.central.kafka, site.name, since), 10):
                out.add(site.name)
        except Exception as exc:  # noqa: BLE001 - the centre not answering: the start window decides
            log.debug("cannot read the mirror task status of %s: %s", site.name, exc)
    return out


async def supervise(mirror: MirrorMaker, stop: asyncio.Event, *, check_s: float = 5.0, stall_s: float = 60.0,
                    start_s: float = 300.0, sweep_s: float = 20.0, sweep_every_s: float = 300.0,
                    confirm_s: float = CONFIRM_S) -> None:
    """Run ``mirror`` until ``stop``; restart it when it exits, a site whose tasks run stalls
    for ``stall_s`` or a site's tasks do not run ``start_s`` after a start (both doubled by each
    restart without progress); in exactly-once mode, abort the mirror's hanging transactions
    (looked for when a site is quiet for ``sweep_s`` and every ``sweep_every_s``; aborted when
    listed again ``confirm_s`` later)."""
    watch = StallWatch(stall_s, start_s=start_s)
    sweeper = (HangingSweeper(mirror, sweep_s, started=time.time(), every_s=sweep_every_s, confirm_s=confirm_s)
               if mirror.config.mirror.exactly_once else None)
    cursors: dict = {}  # the offset syncs read so far, per site: each check reads only the new ones

    def start(now: float) -> None:
        mirror.start()
        watch.started(now)
        log.info("MirrorMaker started; a site's stall clock runs once its tasks run")

    start(time.time())
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
                start(now)
                continue
            try:
                statuses = await mirror_status(mirror.config, timeout=5, cursors=cursors)
            except Exception as exc:  # noqa: BLE001 - the central cluster does not answer: nothing to judge
                log.info("central cluster not answering (%s); MirrorMaker retries by itself", exc)
                watch.reset(now)
                continue
            publish(statuses, now)
            newly = await tasks_running(mirror, watch, watch.started_at)
            for site in sorted(newly):
                log.info("MirrorMaker's tasks for %s run (%.0f s after its start)", site, now - watch.started_at)
            stalled = watch.stalled(statuses, now, newly)
            if sweeper is not None and sweeper.wanted(watch.quiet_s(now), now) and await sweeper.sweep(now):
                # Its offsets reader may have given up on the blocked partition: start afresh.
                log.warning("restarting MirrorMaker after aborting hanging transactions")
                RESTARTS.labels("hanging").inc()
                mirror.stop(timeout=20)
                start(time.time())
                continue
            if stalled:
                for site in stalled:
                    if watch.running(site):
                        log.warning("mirroring of %s has not moved for %.0f s since its tasks ran, with records "
                                    "to mirror", site, stall_s * watch.factor)
                    else:
                        log.warning("MirrorMaker's tasks for %s have not run %.0f s after its start, with records "
                                    "to mirror", site, start_s * watch.factor)
                RESTARTS.labels("stalled").inc()
                mirror.stop(timeout=20)
                mirror.start()
                watch.restarted_for_no_progress(time.time(), stalled)
                log.warning("restarted MirrorMaker (%d in a row without progress: the next windows are %.0f s "
                            "and %.0f s)", watch.restarts, stall_s * watch.factor, start_s * watch.factor)
    finally:
        mirror.stop()
