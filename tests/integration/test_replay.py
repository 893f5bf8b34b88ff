"""Replay against a running plant: rebuild, verify, backfill never actuate and reproduce state exactly."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from factory_app.broker.node import free_port
from factory_app.children import Child, wait_until
from factory_app.config import load_plant
from factory_app.replay.changelog import read_changelog
from factory_app.replay.digest import digest
from harness.helpers import caught_up, get_json, table_dump, wait_ready
from harness.plant import Plant, make_settings, opc_call, wait_plcs_ready, write_count

pytestmark = pytest.mark.integration

LIVE_TABLES = ("asset_state", "tag_windows", "control_state", "control_rule_memory", "command_ledger",
               "command_counts", "command_periods")


def factory(settings, *args, check=True, env=None):
    proc = subprocess.run([sys.executable, "-m", "factory_app", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **settings.to_env(), **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"factory {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def dumps(settings):
    base = f"http://127.0.0.1:{settings.web.port}"
    return {t: get_json(f"{base}/tables/{t}/") for t in LIVE_TABLES}


def all_writes(plant):
    return {a.id: write_count(plant, a.id) for a in plant.config.assets}


def asset_connected(settings, asset: str) -> bool:
    return (table_dump(settings, "asset_state").get(asset) or {}).get("connection") == "connected"


def applied_rules(settings) -> set[str]:
    """Rules with at least one command the writer applied, from the worker's command ledger."""
    ledger = table_dump(settings, "command_ledger")
    return {e.get("rule") for e in ledger.values() if e and e.get("status") == "applied"}


@pytest.fixture(scope="module")
def plant(kafka, tmp_path_factory):
    settings = make_settings(kafka.cfg.bootstrap, tmp_path_factory.mktemp("replay"))
    # Small changelog segments so the broker really compacts them during the test.
    settings = settings.updated({"changelog_configs": {"segment.ms": "500",
                                                                 "min.cleanable.dirty.ratio": "0.01",
                                                                 "delete.retention.ms": "100"}})
    p = Plant(settings, load_plant(settings.plant_config))
    live_avail = settings.updated({"app_id": settings.worker.app_id + "-avail-live",
                                             "processors": ["availability"], "web_port": free_port()})
    try:
        p.start("sim", "writer", "worker")
        p.children["avail-live"] = Child("avail-live", ["worker"], settings.home / "logs", env=live_avail.to_env())
        wait_ready(settings)
        wait_ready(live_avail, child=p.children["avail-live"])
        wait_plcs_ready(p)
        p.start("ingest")
        wait_until(lambda: asset_connected(settings, "press-1") and asset_connected(settings, "conveyor-2"), 120,
                   what="press-1 and conveyor-2 connected and in the worker's state")
        asyncio.run(opc_call(p, "press-1", "inject_fault", 20.0))  # a fault, its interlock and its reset
        wait_until(lambda: {"press-1-fault-stops-conveyor-2", "press-1-auto-reset"} <= applied_rules(settings), 120,
                   what="the interlock and the auto-reset applied")
        p.children["ingest"].stop()  # the log stops growing; the PLCs and the writer keep running
        wait_until(lambda: caught_up(settings), 60, what="the worker to commit the whole log")
        p.children["worker"].stop()
        p.live_avail = live_avail
        yield p
    finally:
        p.stop()


def test_rebuild_after_the_broker_compacted_the_changelogs(plant):
    """Runs first: the changelogs are still the ones the worker wrote, and the broker compacts them.
    A worker restores from the compacted changelog (faust-streaming #176) and a rebuild from the
    source log gives the same tables."""
    s = plant.settings
    from factory_app.replay.log_reader import end_offsets, read_until

    def compacted(table):
        async def count():
            topic = f"{s.worker.app_id}-{table}-changelog"
            stops = await end_offsets(s, [topic])
            present = 0
            async for _ in read_until(s, stops):
                present += 1
            return present, sum(stops.values())
        present, end = asyncio.run(count())
        return present < end
    wait_until(lambda: compacted("asset_state") and compacted("control_state"), 120, interval=2,
               what="the broker to compact the changelogs")
    before = {t: digest(asyncio.run(read_changelog(s, t))) for t in LIVE_TABLES}
    import shutil
    shutil.rmtree(s.data_dir, ignore_errors=True)
    worker = Child("worker-restore", ["worker"], s.home / "logs", env=s.to_env())
    try:
        wait_ready(s, 120)
        served = dumps(s)
    finally:
        worker.stop()
    assert {t: digest(served[t]) for t in LIVE_TABLES} == before
    factory(s, "rebuild", "all")
    assert {t: digest(asyncio.run(read_changelog(s, t))) for t in LIVE_TABLES} == before


def test_rebuild_all_reproduces_every_table_three_times(plant):
    s = plant.settings
    before = {t: asyncio.run(read_changelog(s, t)) for t in LIVE_TABLES}
    assert before["command_ledger"] and before["asset_state"], "the plant produced state and commands"
    writes = all_writes(plant)
    for round_ in range(3):
        out = factory(s, "rebuild", "all").stdout
        assert "0 emitted" in out
        for t in LIVE_TABLES:
            assert digest(asyncio.run(read_changelog(s, t))) == digest(before[t]), (round_, t)
        worker = Child(f"worker-rebuilt-{round_}", ["worker"], s.home / "logs", env=s.to_env())
        try:
            wait_ready(s, 120)
            served = dumps(s)
        finally:
            worker.stop()
        for t in LIVE_TABLES:
            assert digest(served[t]) == digest(before[t]), (round_, t)
    assert all_writes(plant) == writes, "a rebuild never reaches a PLC"


def test_verify_reports_equal_and_catches_a_tampered_table(plant):
    s = plant.settings
    assert "DIFF" not in factory(s, "verify", "all").stdout
    # Tamper with the live changelog: one asset's state is overwritten.
    from factory_app.producer import new_producer

    async def tamper():
        producer = new_producer(s)
        await producer.start()
        key = "oven-1"
        from aiokafka.partitioner import DefaultPartitioner
        part = DefaultPartitioner()(key.encode(), list(range(8)), list(range(8)))
        await producer.send_and_wait(f"{s.worker.app_id}-asset_state-changelog", json.dumps({"forged": True}).encode(),
                                     key=json.dumps(key).encode(), partition=part)
        await producer.stop()
    asyncio.run(tamper())
    proc = factory(s, "verify", "asset_state", check=False)
    assert proc.returncode == 1 and "DIFF asset_state" in proc.stdout and "oven-1" in proc.stdout
    factory(s, "rebuild", "asset_state")
    assert factory(s, "verify", "all").returncode == 0


def test_rebuild_killed_midway_then_rerun_is_still_equal(plant):
    s = plant.settings
    before = {t: digest(asyncio.run(read_changelog(s, t))) for t in LIVE_TABLES}
    for delay in (0.8, 2.0):
        proc = subprocess.Popen([sys.executable, "-m", "factory_app", "rebuild", "all"],
                                env={**os.environ, **s.to_env()}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
    factory(s, "rebuild", "all")
    assert {t: digest(asyncio.run(read_changelog(s, t))) for t in LIVE_TABLES} == before


def test_backfill_never_actuates_and_matches_the_live_analytic(plant):
    s = plant.settings
    writes = all_writes(plant)
    out = factory(s, "backfill", "control", "--until-caught-up", "--name", s.worker.app_id + "-control-replay")
    assert "commands: not emitted" in out.stderr
    # Two workers in the backfill's group share its partitions (a backfill split across processes).
    out = factory(s, "backfill", "availability", "--until-caught-up", "--workers", "2",
                  "--name", s.worker.app_id + "-avail-backfill")
    assert "(2 worker(s))" in out.stderr, out.stderr
    assert all_writes(plant) == writes, "a backfill never reaches a PLC"
    # The commands topic holds only what the live control processor emitted.
    backfilled = asyncio.run(read_changelog(s.updated({"app_id": s.worker.app_id + "-avail-backfill"}),
                                            "availability"))
    live = wait_until(lambda: (lambda t: t if digest(t) == digest(backfilled) else None)(
        asyncio.run(read_changelog(plant.live_avail, "availability"))), 60, what="live analytic equal to backfill")
    presses = {k: v for k, v in live.items() if k.startswith("press")}
    assert presses and all(v["availability"] is not None for v in presses.values())
    assert any(v["seconds_in"].get("faulted") for v in presses.values()), "the injected fault shows in availability"


def test_rebuild_in_processes_writes_the_same_tables(plant):
    """``--processes 3``: the partitions folded in three processes, their tables put side by side,
    equal to the one-process rebuild table by table; the rules computed the same commands."""
    import re

    s = plant.settings
    one = factory(s, "rebuild", "all").stdout
    before = {t: digest(asyncio.run(read_changelog(s, t))) for t in LIVE_TABLES}
    three = factory(s, "rebuild", "all", "--processes", "3").stdout
    assert {t: digest(asyncio.run(read_changelog(s, t))) for t in LIVE_TABLES} == before
    computed = [re.search(r"replay: (\d+) commands computed", out).group(1) for out in (one, three)]
    assert computed[0] == computed[1] and int(computed[0]) > 0
    assert "0 emitted" in three


def test_rebuild_from_verified_snapshots_writes_the_same_tables(plant):
    """`rebuild all --from-snapshots` starts each snapshotted processor's partitions from the
    snapshots `verify --snapshots` marked verified and writes the tables the rebuild from
    offset 0 writes; a verified snapshot changed afterwards is not trusted (that partition
    folds from offset 0), and without a verification nothing starts from a snapshot."""
    import re

    from factory_app.snapshots.build import fingerprints, snapshotted
    from factory_app.snapshots.store import SnapshotStore, pack_tables, unpack_tables

    s = plant.settings.updated({"snapshot_every_events": 20, "snapshot_dir": plant.settings.home / "snaps-rebuild"})
    factory(s, "rebuild", "all")
    reference = {t: digest(asyncio.run(read_changelog(s, t))) for t in LIVE_TABLES}
    built = factory(s, "snapshots", "build").stderr
    assert int(re.search(r"(\d+) point\(s\) written", built).group(1)) > 0, built
    unverified = factory(s, "rebuild", "all", "--from-snapshots").stdout
    assert "telemetry-state: 0 partition(s) from verified snapshots" in unverified, unverified
    assert factory(s, "verify", "--snapshots").returncode == 0
    fast = factory(s, "rebuild", "all", "--from-snapshots").stdout
    assert {t: digest(asyncio.run(read_changelog(s, t))) for t in LIVE_TABLES} == reference
    started = int(re.search(r"telemetry-state: (\d+) partition", fast).group(1))
    total = int(re.search(r"rebuilt from (\d+) source offsets", fast).group(1))
    read = int(re.search(r"read (\d+) records after them", fast).group(1))
    assert started > 0 and read < total, fast

    # Damage one verified snapshot (a different table, the same name): never started from.
    store = SnapshotStore(s.snapshots_dir)
    fp = fingerprints(s, plant.config, snapshotted(s, plant.config))["telemetry-state"]
    part = next(p for p in store.partitions() if store.verified_points(p, "telemetry-state", fp))
    point = store.verified_points(part, "telemetry-state", fp)[-1]
    body = store.read_snapshot(part, point, "telemetry-state", fp)
    tables = unpack_tables(body["tables"])
    tables["asset_state"] = {k: {**v, "events": -1} for k, v in tables["asset_state"].items()}
    store.write_snapshot(part, point, "telemetry-state", fp, {**body, "tables": pack_tables(tables)})
    again = factory(s, "rebuild", "all", "--from-snapshots").stdout
    assert {t: digest(asyncio.run(read_changelog(s, t))) for t in LIVE_TABLES} == reference
    assert f"{part}@{point.telemetry}" not in again.split("telemetry-state:")[1].splitlines()[0], again
