"""Keep MirrorMaker 2 running and moving: restart it when it exits or a site's mirroring stalls.

Seen here (docs/edge-to-cloud.md): after the central cluster came back from an outage,
MirrorMaker's task for one of two sites stayed stuck (its old task "failed to properly shut
down, has become unresponsive") and mirrored nothing more, while the process looked alive.
A restart resumes from the offsets it committed; in exactly-once mode nothing is doubled.
So the supervisor watches what matters, progress: a site with records to mirror whose
mirrored position has not moved for ``stall_s`` while both ends answer is restarted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

from factory_app.mirror.process import MirrorMaker
from factory_app.mirror.status import SiteStatus, mirror_status

log = logging.getLogger(__name__)

LAG = Gauge("factory_mirror_lag_records", "Site records not yet mirrored centrally (per the last offset sync).", ["site"])
MIRRORED = Gauge("factory_mirror_mirrored_records", "Site records mirrored centrally (per the last offset sync).", ["site"])
SYNC_AGE = Gauge("factory_mirror_last_sync_age_seconds", "Seconds since MirrorMaker last synced a site's offsets.",
                 ["site"])
REACHABLE = Gauge("factory_mirror_site_reachable", "1 when the site's cluster answered the last check.", ["site"])
RESTARTS = Counter("factory_mirror_restarts_total", "MirrorMaker restarts by the supervisor, by reason.", ["reason"])


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


async def supervise(mirror: MirrorMaker, stop: asyncio.Event, *, check_s: float = 5.0, stall_s: float = 60.0) -> None:
    """Run ``mirror`` until ``stop``; restart it when it exits or a site stalls."""
    watch = StallWatch(stall_s)
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
            if stalled:
                log.warning("mirroring of %s has not moved for %.0f s with records to mirror; restarting MirrorMaker",
                            ", ".join(stalled), stall_s)
                RESTARTS.labels("stalled").inc()
                mirror.stop(timeout=20)
                mirror.start()
                watch.reset(now)
    finally:
        mirror.stop()
