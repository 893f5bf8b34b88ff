"""Asset state and command counts from every worker of the group, and which worker holds each.

A worker serves only the assets of the partitions it owns (``/state/``, ``/commands/counts/``);
``/cluster/`` lists every worker of the group, so one known worker is enough to find the rest.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

import aiohttp

_TIMEOUT = aiohttp.ClientTimeout(total=2.0)


class ClusterReader:
    def __init__(self, seeds: list[str], assets: list[str], rediscover_s: float = 5.0):
        # Only these assets are asked for: a worker's view then looks up exactly them, whatever
        # else it holds (measured: asking for all of 1,000 held assets 4 times a second made
        # the page seconds late at half load; bench/ui_latency.py).
        self._query = "?assets=" + ",".join(quote(a, safe="") for a in assets)
        self.seeds = [s.rstrip("/") for s in seeds]
        self.workers: list[str] = list(self.seeds)
        self.unreachable: dict[str, str] = {}  # worker URL -> why, from the last round
        self._rediscover_s, self._discovered_at = rediscover_s, 0.0
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _get(self, url: str):
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        async with self._session.get(url) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            return await resp.json()

    async def _discover(self) -> None:
        if time.monotonic() - self._discovered_at < self._rediscover_s:
            return
        for seed in dict.fromkeys(self.workers + self.seeds):
            try:
                found = (await self._get(f"{seed}/cluster/"))["workers"]
            except Exception:
                continue
            self.workers = sorted({w.rstrip("/") for w in found}) or self.workers
            self._discovered_at = time.monotonic()
            return

    async def _worker(self, url: str) -> tuple[dict, dict]:
        return await asyncio.gather(self._get(f"{url}/state/{self._query}"),
                                    self._get(f"{url}/commands/counts/{self._query}"))

    async def snapshot(self) -> dict[str, dict]:
        """asset -> {"state", "counts", "worker"} from every worker that answered this round."""
        await self._discover()
        answers = await asyncio.gather(*(self._worker(w) for w in self.workers), return_exceptions=True)
        out: dict[str, dict] = {}
        self.unreachable = {}
        for worker, answer in zip(self.workers, answers):
            if isinstance(answer, BaseException):
                self.unreachable[worker] = f"{type(answer).__name__}: {answer}"[:200]
                continue
            states, counts = answer
            for asset, state in states.items():
                out[asset] = {"state": state, "counts": counts.get(asset, {}), "worker": worker}
        if self.unreachable:
            self._discovered_at = 0.0  # a worker gone: ask for the group again next round
        return out

    async def windows(self, worker: str, asset: str) -> dict:
        """One asset's retained windows, from the worker that holds it."""
        return await self._get(f"{worker}/windows/{quote(asset, safe='')}/")
