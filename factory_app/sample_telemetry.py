"""A synthetic telemetry source for trying the projections without a plant."""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from factory_app import events
from factory_app.producer import append, new_producer
from factory_app.settings import Settings

TAGS = ("temperature", "speed", "pressure", "running")


def sample_events(n_assets: int, start: float, step: float) -> Iterator[events.Telemetry]:
    """An endless, deterministic sequence of telemetry over ``n_assets`` assets and 4 tags."""
    seq = 0
    while True:
        t = start + seq * step
        asset = f"asset-{seq % n_assets:03d}"
        tag = TAGS[(seq // n_assets) % len(TAGS)]
        phase = seq / 97.0
        value: events.Scalar = (
            (seq // 50) % 2 == 0 if tag == "running" else round(50 + 20 * math.sin(phase + zlib.crc32(asset.encode()) % 7), 3)
        )
        yield events.Telemetry(event_id=uuid.uuid4().hex, asset_id=asset, event_time=t, tag=tag,
                               value=value, quality="good", seq=seq)
        seq += 1


async def produce(settings: Settings, n_assets: int, rate: float, duration: float | None,
                  on_sent: Callable[[int], None] | None = None) -> int:
    """Append sample telemetry at ``rate`` events/s for ``duration`` s (forever if None)."""
    producer = new_producer(settings)
    await producer.start()
    sent = 0
    begin = time.monotonic()
    try:
        for event in sample_events(n_assets, time.time(), 1.0 / rate):
            if duration is not None and time.monotonic() - begin >= duration:
                break
            await append(producer, settings, events.TELEMETRY, event)
            sent += 1
            if on_sent is not None:
                on_sent(sent)
            ahead = sent / rate - (time.monotonic() - begin)
            if ahead > 0:
                await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


@dataclass
class LoadReport:
    """What a tracked load run appended: which events the cluster acknowledged and which failed."""

    sent: int = 0
    acked: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # event id -> error
    done: threading.Event = field(default_factory=threading.Event)


async def produce_tracked(settings: Settings, n_assets: int, rate: float, count: int, report: LoadReport,
                          stop: threading.Event | None = None, linger_ms: int = 10) -> LoadReport:
    """Append ``count`` sample events at ``rate``/s, recording every acknowledgement and failure.

    For fault tests: the caller breaks brokers or workers meanwhile and then checks
    that every acknowledged event is in the log (and in state).
    """
    producer = new_producer(settings, linger_ms=linger_ms)
    await producer.start()
    begin = time.monotonic()

    def track(event_id: str, fut: asyncio.Future) -> None:
        if fut.cancelled() or fut.exception() is not None:
            report.failed[event_id] = repr(fut.exception() if not fut.cancelled() else "cancelled")
        else:
            report.acked.add(event_id)
    try:
        for event in sample_events(n_assets, time.time(), 1.0 / rate):
            if report.sent >= count or (stop is not None and stop.is_set()):
                break
            try:
                fut = await append(producer, settings, events.TELEMETRY, event)
                fut.add_done_callback(lambda f, eid=event.event_id: track(eid, f))
            except Exception as exc:  # no metadata, buffer timed out: not appended, not acknowledged
                report.failed[event.event_id] = repr(exc)
            report.sent += 1
            ahead = report.sent / rate - (time.monotonic() - begin)
            if ahead > 0:
                await asyncio.sleep(ahead)
        try:
            await producer.flush()
        except Exception:
            pass  # each pending append reports its own failure
    finally:
        await producer.stop()
        report.done.set()
    return report


def start_tracked_load(settings: Settings, n_assets: int, rate: float, count: int,
                       stop: threading.Event | None = None) -> tuple[LoadReport, threading.Thread]:
    """Run ``produce_tracked`` on its own thread and event loop; returns its live report."""
    report = LoadReport()
    thread = threading.Thread(target=lambda: asyncio.run(produce_tracked(settings, n_assets, rate, count, report, stop)),
                              name="tracked-load", daemon=True)
    thread.start()
    return report, thread
