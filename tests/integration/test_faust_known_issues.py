"""Guards against two open faust-streaming issues this design depends on avoiding.

#606: an agent with concurrency > 1 can commit offsets past messages still in
flight, so a crash loses them. Every agent here (the command ledger; the telemetry
processors run in the runtime, not as agents) runs with concurrency 1.
#176: table recovery can stall on compacted changelogs (offset gaps). We make
the broker really compact a changelog, then restore from it.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest

from factory_app import events
from factory_app.app import PROCESSORS, create_app
from factory_app.children import wait_until
from factory_app.settings import Settings
from harness.helpers import produce_raw, read_topic, start_worker, table_dump, wait_ready


def test_every_agent_runs_with_concurrency_one():
    worker = create_app(Settings(processors=list(PROCESSORS)), prometheus=False)
    agents = list(worker.app.agents.values())
    assert agents, "the app declares agents"
    assert all(agent.concurrency == 1 for agent in agents), [(a.name, a.concurrency) for a in agents]


@pytest.mark.integration
def test_recovery_from_a_compacted_changelog(settings: Settings, children, kafka):
    settings = settings.updated({"changelog_configs": {
        "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "100",
        "segment.ms": "500"}})
    # Few assets, many updates: most changelog records are superseded and compactable.
    msgs = []
    for i in range(6_000):
        ev = events.Telemetry(event_id=f"e{i}", asset_id=f"a{i % 4}", event_time=1_000.0 + i, tag=f"t{i % 3}",
                              value=float(i))
        msgs.append((ev.asset_id.encode(), events.encode(ev)))
    worker = start_worker(settings)
    children.append(worker)
    asyncio.run(produce_raw(settings, events.TELEMETRY, msgs))
    total = lambda: sum(s["events"] for s in table_dump(settings, "asset_state").values() if s)  # noqa: E731
    wait_until(lambda: worker.alive() and total() == 6_000, 120, what="events in state")

    changelog = f"{settings.worker.app_id}-asset_state-changelog"
    plain = settings.updated({"topic_prefix": ""})
    ticks = [0]

    def compacted():
        # The cleaner leaves the active segment alone, and a segment rolls only when a record
        # arrives after segment.ms: the worker writes its changelog in batches, all at once,
        # so a trickle of events for another asset keeps the changelog rolling.
        ticks[0] += 1
        tick = events.Telemetry(event_id=f"tick{ticks[0]}", asset_id="roller", event_time=10_000.0 + ticks[0],
                                tag="t", value=float(ticks[0]))
        asyncio.run(produce_raw(settings, events.TELEMETRY, [(b"roller", events.encode(tick))]))
        recs = asyncio.run(read_topic(plain, changelog))
        present = sum(len(r) for r in recs.values())
        last = sum(r[-1].offset + 1 for r in recs.values() if r)
        return present < last // 2  # the cleaner removed most superseded records
    wait_until(compacted, 120, interval=2, what="the broker to compact the changelog")
    wait_until(lambda: total() == 6_000 + ticks[0], 60, what="every tick in state")
    before = (table_dump(settings, "asset_state"), table_dump(settings, "tag_windows"))

    assert worker.stop() == 0
    shutil.rmtree(settings.data_dir)
    worker = start_worker(settings, "worker-restore")
    children.append(worker)
    wait_ready(settings, 120)
    assert (table_dump(settings, "asset_state"), table_dump(settings, "tag_windows")) == before
