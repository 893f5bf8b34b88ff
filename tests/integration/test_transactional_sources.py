"""A worker over topics a transactional producer wrote: the central cluster's mirrored topics,
which MirrorMaker writes in exactly-once mode.

Such a log has offsets no consumer ever sees: a marker after each transaction, and the records
of an aborted one (a mirror killed or cut off mid-transaction) with its abort marker. Faust
commits only an unbroken run of acknowledged offsets, so a worker must count those skipped
offsets as passed, on the runtime's batch path (telemetry) and on the agent path (the command
ledger) alike; else its commits stop for good at the first aborted transaction, though its
tables go on folding (seen on a central worker after a central outage).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer

from factory_app import events
from factory_app.children import wait_until
from factory_app.replay.groups import committed_offsets
from factory_app.settings import Settings
from harness.helpers import caught_up, start_worker, table_dump

pytestmark = pytest.mark.integration

TOPICS = (events.TELEMETRY, events.COMMANDS, events.COMMAND_RESULTS)


def batch(n: int, now: float) -> dict[str, list[events.Event]]:
    """One event per source topic, for asset ``a<n>``."""
    cmd = events.Command(event_id=f"c{n}", asset_id=f"a{n}", event_time=now, command_id=f"cmd-{n}",
                         action="write", target="setpoint", value=1.0, cause_event_id=f"t{n}", rule="r",
                         deadline=now + 60)
    return {events.TELEMETRY: [events.Telemetry(event_id=f"t{n}", asset_id=f"a{n}", event_time=now, tag="x",
                                                value=float(n))],
            events.COMMANDS: [cmd],
            events.COMMAND_RESULTS: [events.CommandResult(event_id=f"r{n}", asset_id=f"a{n}", event_time=now,
                                                          command_id=f"cmd-{n}", status="applied")]}


async def write_transactions(settings: Settings, outcomes: list[bool]) -> None:
    """One transaction per outcome over every source topic's partition 0: committed (True) or
    aborted (False) after its records were appended. Transaction ``i`` carries ``batch(i)``."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap, transactional_id=f"{settings.worker.app_id}-tx")
    await producer.start()
    try:
        for i, commit in enumerate(outcomes):
            await producer.begin_transaction()
            for topic, evs in batch(i, time.time()).items():
                for ev in evs:
                    await producer.send_and_wait(settings.topic(topic), events.encode(ev),
                                                 key=ev.asset_id.encode(), partition=0)
            if commit:
                await producer.commit_transaction()
            else:
                await producer.abort_transaction()
    finally:
        await producer.stop()


def test_commits_pass_the_offsets_transactions_leave_behind(settings: Settings, children):
    settings = settings.updated({"processors": ["telemetry-state", "command-ledger"]})
    # Per partition 0: 0 record, 1 commit marker, 2 aborted record, 3 abort marker, 4 record,
    # 5 commit marker, 6 aborted record, 7 abort marker, 8 record, 9 commit marker.
    outcomes = [True, False, True, False, True]
    asyncio.run(write_transactions(settings, outcomes))
    worker = start_worker(settings)
    children.append(worker)

    kept = {f"cmd-{i}" for i, commit in enumerate(outcomes) if commit}
    statuses = lambda: {cid: e["status"] for cid, e in table_dump(settings, "command_ledger").items()}  # noqa: E731
    wait_until(lambda: statuses() == {cid: "applied" for cid in kept}, 120,
               what="the committed commands and their results in the ledger, nothing aborted")
    state = table_dump(settings, "asset_state")
    assert sorted(a for a, s in state.items() if s) == sorted(f"a{i}" for i, commit in enumerate(outcomes) if commit)
    # The group commits past every gap: a worker restarted later resumes at the end, not at
    # the first aborted transaction (where commits had stopped: at 1 of 9 on the agent's topics).
    try:
        wait_until(lambda: caught_up(settings, TOPICS), 60, what="commits past the aborted transactions")
    except TimeoutError:
        committed = asyncio.run(committed_offsets(settings, settings.worker.app_id))
        pytest.fail(f"commits stopped before the end (9 on partition 0 of each topic): "
                    f"{ {f'{tp.topic}[{tp.partition}]': o for tp, o in committed.items()} }")
