"""A killed worker's local tables are not trusted: the next run restores them from the changelogs.

Faust writes RocksDB first and the changelog later, so a SIGKILL can leave a local
write whose changelog message was never sent; per-key offsets then keep the redelivered
events from writing it again (see factory_app/local_state.py). Here that lost message
is made on purpose: the local RocksDB of a killed worker gets a value its changelog
never saw, and the restarted worker must serve the changelog's value.
"""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from rocksdict import Options, Rdict

from factory_app import events
from factory_app.broker.node import free_port
from factory_app.children import wait_until
from factory_app.local_state import CLEAN_MARK
from harness.helpers import log_text, produce_raw, start_worker, table_dump, wait_ready

pytestmark = pytest.mark.integration

DISCARDED = "did not stop in order"


def telemetry(n: int, asset: str = "press-1") -> list[tuple[bytes, bytes]]:
    return [(asset.encode(), events.encode(events.Telemetry(
        event_id=f"e{i}", asset_id=asset, event_time=1_700_000_000.0 + i, tag="speed", value=float(i))))
        for i in range(n)]


def events_of(settings, asset: str = "press-1") -> int | None:
    state = table_dump(settings, "asset_state").get(asset)
    return state and state["events"]


def forge_local_write(settings, asset: str = "press-1", events_count: int = 1_000) -> None:
    """Put into the stopped worker's RocksDB a state its changelog never got (a lost changelog send)."""
    tables = settings.data_dir / "v1" / "tables"
    forged = 0
    for path in tables.glob("asset_state-*.db"):
        db = Rdict(str(path), Options(raw_mode=True))
        try:
            for key, value in db.items():
                if key in (asset.encode(), json.dumps(asset).encode()):  # raw or JSON key serializer
                    db[key] = json.dumps({**json.loads(value), "events": events_count}).encode()
                    forged += 1
        finally:
            db.close()
    assert forged == 1, f"expected one local RocksDB entry of {asset} under {tables}"


def test_a_killed_workers_local_write_is_not_served_after_restart(settings, children):
    asyncio.run(produce_raw(settings, events.TELEMETRY, telemetry(20)))
    worker = start_worker(settings)
    children.append(worker)
    wait_until(lambda: events_of(settings) == 20, 120, what="20 events in state")

    worker.kill()
    assert not (settings.data_dir / CLEAN_MARK).exists()
    forge_local_write(settings)

    worker = start_worker(settings, "worker-after-kill")
    children.append(worker)
    wait_ready(settings, 180)
    wait_until(lambda: events_of(settings) is not None, 60, what="the asset's state served")
    assert events_of(settings) == 20, "the local write the changelog never had is served"
    assert DISCARDED in log_text(worker)


def test_an_orderly_stop_keeps_local_tables(settings, children):
    asyncio.run(produce_raw(settings, events.TELEMETRY, telemetry(20)))
    worker = start_worker(settings)
    children.append(worker)
    wait_until(lambda: events_of(settings) == 20, 120, what="20 events in state")
    assert worker.stop() == 0
    assert (settings.data_dir / CLEAN_MARK).exists()

    # The local copy is trusted after an orderly stop: what is in it is served without a restore.
    forge_local_write(settings, events_count=1_000)
    worker = start_worker(settings, "worker-after-stop")
    children.append(worker)
    wait_ready(settings, 180)
    wait_until(lambda: events_of(settings) is not None, 60, what="the asset's state served")
    assert events_of(settings) == 1_000
    assert DISCARDED not in log_text(worker)
    assert not (settings.data_dir / CLEAN_MARK).exists(), "the mark must be gone while the worker runs"


def test_two_workers_cannot_share_a_data_directory(settings, children):
    first = start_worker(settings)
    children.append(first)
    wait_ready(settings)
    second = start_worker(settings.updated({"web_port": free_port()}), "second")
    children.append(second)
    wait_until(lambda: not second.alive(), 60, what="the second worker refused")
    assert second.proc.returncode != 0
    assert "uses the data directory" in log_text(second)
    assert first.alive()


def test_local_tables_damaged_while_stopped_are_restored_from_their_changelogs(settings, children):
    """A partition database overwritten (a disk error) or deleted while the worker was stopped:
    the worker starts, discards what it cannot read and serves the changelog's state. Without
    the check it crashed at every start on RocksDB's "Corruption" error."""
    assets = [f"press-{i}" for i in range(8)]  # spread over the partitions
    for asset in assets:
        asyncio.run(produce_raw(settings, events.TELEMETRY, telemetry(10, asset)))
    worker = start_worker(settings)
    children.append(worker)
    wait_until(lambda: all(events_of(settings, a) == 10 for a in assets), 120, what="every asset's state")
    assert worker.stop() == 0

    tables = settings.data_dir / "v1" / "tables"
    partitions = sorted(tables.glob("asset_state-*.db"))
    assert len(partitions) >= 2
    for manifest in partitions[0].glob("MANIFEST-*"):
        manifest.write_bytes(b"\x00not a manifest" * 64)  # overwritten in place
    shutil.rmtree(partitions[1])  # gone

    worker = start_worker(settings, "worker-after-damage")
    children.append(worker)
    wait_ready(settings, 180, child=worker)
    wait_until(lambda: all(events_of(settings, a) == 10 for a in assets), 120,
               what="every asset's state served again", abort=lambda: not worker.alive())
    assert f"{partitions[0].name} cannot be read" in log_text(worker)
