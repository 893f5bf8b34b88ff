"""A tag that does not change must not make the ingest adapter resubscribe (issue: stale log)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest

from adapters.ingest import AssetIngest, Sample
from factory_app.config import load_plant
from factory_app.sim.server import SimEndpoint
from harness.plant import plant_file

pytestmark = pytest.mark.integration


def test_quiet_tags_are_not_resubscribed(tmp_path, caplog):
    """With publishing_ms 0 a server sends nothing for a quiet subscription; asyncua's client took
    that for a dead subscription and recreated it about once a second, each time resending
    every current value (the "Subscription N is stale; recreating" lines under load)."""
    plant = load_plant(plant_file(tmp_path / "plant.yaml"))
    # The oven is busy; the running conveyor's subscription goes quiet once its speed ramp ends.
    oven, quiet = plant.asset("oven-1"), plant.asset("conveyor-1")
    assert quiet.publishing_ms == 0
    caplog.set_level(logging.WARNING, logger="asyncua")

    async def scenario() -> Counter:
        sims = [SimEndpoint(a.endpoint, [a], plant.sim.speed, plant.sim.tick_s) for a in (oven, quiet)]
        for sim in sims:
            await sim.start()
        queue: asyncio.Queue = asyncio.Queue()
        tasks = [asyncio.create_task(AssetIngest(a, queue).run()) for a in (oven, quiet)]
        seen: Counter = Counter()
        try:
            # The oven's temperature changes every tick: 60 of its samples span several of the
            # client's 0.5 s staleness checks.
            while seen["oven-1", "temperature"] < 60:
                item = await asyncio.wait_for(queue.get(), 60)
                if isinstance(item, Sample):
                    seen[item.asset_id, item.tag] += 1
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sim in sims:
                await sim.stop()
        return seen

    seen = asyncio.run(scenario())
    conveyor = {tag: n for (asset, tag), n in seen.items() if asset == "conveyor-1"}
    # Tags that never change arrive once (their initial value), never resent by a resubscription
    # (on 1081d30 each arrived 3 times within these ~3 s).
    assert {tag: conveyor.get(tag) for tag in ("motor_on", "jammed", "state")} == \
        {"motor_on": 1, "jammed": 1, "state": 1}, conveyor
    assert not [r for r in caplog.records if "is stale" in r.getMessage()]
