"""A synthetic telemetry source for trying the projections without a plant."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
import zlib
from collections.abc import Callable, Iterator

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
