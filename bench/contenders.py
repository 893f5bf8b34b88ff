"""The baselines of the ingest benchmark, each run as its own process.

  python -m bench.contenders plain --bootstrap B --topic T --events N --progress F
  python -m bench.contenders quix  --bootstrap B --topic T --events N --progress F --state-dir D

Both run the project's own decode and fold (``events.decode_keyed`` and
``agents.telemetry_state.apply_to_tables``), so only the machinery around them
differs from the Faust worker:

- plain (baseline A, the ceiling): an aiokafka loop folding into Python dicts;
  no framework, no persistence, no changelog.
- faust-noop: a Faust agent that decodes and counts, no tables (Faust's own per-event cost).
- quix (baseline B, the peer): a Quix Streams application whose stateful
  ``update`` folds into Quix's RocksDB state, with its changelog topics on.

Each writes the number of events it has folded to ``--progress`` (a small text
file the benchmark polls) and exits once it has folded ``--events``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from agents.telemetry_state import apply_to_tables
from factory_app import events

ACCEPT = (events.Telemetry, events.StateTransition)
WINDOW_S, RETENTION = 10.0, 60
DEDUP_HORIZON = 32  # the worker's default (Settings.worker.dedup_horizon): every contender does the same work


class Progress:
    """Counts folded events and publishes the count every ``every`` events (and at the end)."""

    def __init__(self, path: Path, every: int = 2_000):
        self.path, self.every, self.n = path, every, 0

    def tick(self) -> None:
        self.n += 1
        if self.n % self.every == 0:
            self.publish()

    def publish(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(self.n))
        os.replace(tmp, self.path)  # the reader never sees a half-written number


class DictTables:
    """The two projection tables as plain dicts (what apply_to_tables needs: get, set, delete)."""

    def __init__(self):
        self.asset_state: dict = {}
        self.tag_windows: dict = {}


async def run_plain(args) -> None:
    from factory_app.kafka_clients import partitions_of, start_consumer

    consumer = await start_consumer(bootstrap=args.bootstrap, enable_auto_commit=False,
                                    max_partition_fetch_bytes=4 * 1024 * 1024)
    tps = await partitions_of(consumer, args.topic)
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    tables, progress = DictTables(), Progress(args.progress)
    progress.publish()
    while progress.n < args.events:
        batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
        for recs in batch.values():
            for rec in recs:
                event = events.decode_keyed(rec.key, rec.value, ACCEPT)
                apply_to_tables(tables, event, WINDOW_S, RETENTION, "plain", rec.offset, DEDUP_HORIZON)
                progress.tick()
    progress.publish()
    await consumer.stop()


class QuixTable:
    """One projection table over Quix's per-key State (keys are already prefixed by asset id)."""

    def __init__(self, prefix: str):
        self.prefix, self.state = prefix, None

    def get(self, key, default=None):
        return self.state.get(self.prefix + key, default)

    def __setitem__(self, key, value):
        self.state.set(self.prefix + key, value)

    def __delitem__(self, key):
        self.state.delete(self.prefix + key)


def run_quix(args) -> None:
    from quixstreams import Application
    from quixstreams.context import message_context

    app = Application(broker_address=args.bootstrap, consumer_group=f"quix-{args.topic}",
                      auto_offset_reset="earliest", state_dir=str(args.state_dir), loglevel="WARNING",
                      use_changelog_topics=True)
    topic = app.topic(args.topic, key_deserializer="bytes", value_deserializer="bytes")
    sdf = app.dataframe(topic)

    class Tables:
        asset_state = QuixTable("s:")
        tag_windows = QuixTable("w:")

    progress = Progress(args.progress)
    progress.publish()
    probes = args.probe_log.open("a", buffering=1) if args.probe_log else None

    def fold(value: bytes, key: bytes, timestamp: int, headers, state) -> None:
        Tables.asset_state.state = Tables.tag_windows.state = state
        event = events.decode_keyed(key, value, ACCEPT)
        apply_to_tables(Tables, event, WINDOW_S, RETENTION, "quix", message_context().offset, DEDUP_HORIZON)
        progress.tick()
        if probes is not None and getattr(event, "tag", None) == "probe":  # bench.capacity's freshness probes: when folded
            probes.write(f"{event.asset_id} {event.seq} {time.time()}\n")
        if progress.n >= args.events:
            progress.publish()
            app.stop()

    sdf.update(fold, stateful=True, metadata=True)
    app.run()


def run_faust_noop(args) -> None:
    """Faust's own per-event cost: an agent that only decodes and counts (no tables)."""
    import sys

    import faust

    from factory_app.broker.node import free_port
    from factory_app.kafka_clients import servers

    app = faust.App(f"noop-{args.topic}", broker=f"kafka://{servers(args.bootstrap)[0]}", key_serializer="raw",
                    value_serializer="raw", consumer_auto_offset_reset="earliest", store="memory://",
                    datadir=str(args.state_dir), web_host="127.0.0.1", web_bind="127.0.0.1", web_port=free_port())
    topic = app.topic(args.topic, key_serializer="raw", value_serializer="raw")
    progress = Progress(args.progress)
    progress.publish()

    @app.agent(topic)
    async def count(stream):
        async for event in stream.events():
            events.decode_keyed(event.message.key, event.value, ACCEPT)
            progress.tick()
            if progress.n >= args.events:
                progress.publish()  # the benchmark stops this process once it reads the total

    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("which", choices=["plain", "quix", "faust-noop"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--progress", type=Path, required=True)
    ap.add_argument("--state-dir", type=Path, default=Path("quix-state"))
    ap.add_argument("--probe-log", type=Path, default=None, help="quix: append 'asset seq time' per probe folded")
    args = ap.parse_args()
    if args.which == "plain":
        asyncio.run(run_plain(args))
    elif args.which == "faust-noop":
        run_faust_noop(args)
    else:
        run_quix(args)


if __name__ == "__main__":
    main()
