"""OPC UA ingest: subscribe to every asset's nodes and append Telemetry events to Kafka.

Notifications go straight onto an in-memory queue (the asyncua handler never
waits for Kafka); one pump task turns them into events in arrival order. A
lost session produces a ``disconnected`` StateTransition, reconnects with
backoff, then ``connected``; a sample with the same source timestamp and value
as the last one sent for its tag (what the server replays on resubscribe) is
dropped, so nothing from before an outage is sent twice or invented. A sample
older than the last one (a PLC clock stepped back) is kept and counted: it may
be the trip that matters.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from asyncua import Client, ua

from adapters.opcua_session import node_ids, open_client, quality, trust_quiet_subscriptions
from factory_app import events, metrics
from factory_app.config import Asset, PlantConfig
from factory_app.producer import append, start_producer
from factory_app.settings import Settings

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Sample:
    asset_id: str
    tag: str
    value: object
    source_ts: datetime | None
    server_ts: datetime | None
    status: ua.StatusCode | None


@dataclass(frozen=True)
class Transition:
    asset_id: str
    to_state: str
    reason: str
    at: float


def to_scalar(value) -> events.Scalar | None:
    """An OPC UA value as a telemetry scalar, or None when it is not one (arrays, structures)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return None


class _Handler:
    """asyncua subscription handler: enqueue and return at once."""

    def __init__(self, asset_id: str, tags: dict, queue: asyncio.Queue, lost: asyncio.Event):
        self.asset_id, self.tags, self.queue, self.lost = asset_id, tags, queue, lost

    def datachange_notification(self, node, val, data) -> None:
        dv = data.monitored_item.Value
        self.queue.put_nowait(Sample(self.asset_id, self.tags[node.nodeid], val, dv.SourceTimestamp,
                                     dv.ServerTimestamp, dv.StatusCode))

    def status_change_notification(self, status) -> None:
        self.lost.set()


class AssetIngest:
    """The session of one asset: connect, subscribe / poll, detect loss, reconnect with backoff."""

    def __init__(self, asset: Asset, queue: asyncio.Queue, max_backoff: float = 5.0):
        self.asset = asset
        self.queue = queue
        self.max_backoff = max_backoff
        self.connected = False

    async def run(self) -> None:
        backoff = 0.2
        while True:
            client: Client | None = None
            lost = asyncio.Event()
            try:
                client = await open_client(self.asset)
                client.connection_lost_callback = lambda exc: _set(lost)
                ids = await node_ids(client, self.asset)
                self._transition("connected", "session established")
                backoff = 0.2
                await self._subscribe(client, ids, lost)
                pollers = [asyncio.create_task(self._poll(client, ids[r.tag], r.tag, r.sampling_ms / 1000, lost))
                           for r in self.asset.read if r.mode == "poll"]
                try:
                    await lost.wait()
                finally:
                    for p in pollers:
                        p.cancel()
                reason = "session lost"
            except asyncio.CancelledError:
                if client is not None:
                    await _close(client)
                raise
            except Exception as exc:  # unreachable, refused, timed out: all mean "not connected"
                reason = f"{type(exc).__name__}: {exc}"
            if client is not None:
                await _close(client)
            if self.connected:
                self._transition("disconnected", reason)
            log.info("asset %s: %s; retrying in %.1fs", self.asset.id, reason, backoff,
                     extra={"asset_id": self.asset.id, "endpoint": self.asset.endpoint})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _transition(self, to_state: str, reason: str) -> None:
        self.connected = to_state == "connected"
        metrics.ADAPTER_CONNECTED.labels(self.asset.endpoint).set(1 if self.connected else 0)
        self.queue.put_nowait(Transition(self.asset.id, to_state, reason, time.time()))

    async def _subscribe(self, client: Client, ids: dict, lost: asyncio.Event) -> None:
        subscribed = [r for r in self.asset.read if r.mode == "subscribe"]
        if not subscribed:
            return
        tags = {ids[r.tag]: r.tag for r in subscribed}
        period = self.asset.publishing_ms
        if period is None:
            period = min(r.sampling_ms for r in subscribed)
        if period == 0:
            trust_quiet_subscriptions(client)
        sub = await client.create_subscription(period, _Handler(self.asset.id, tags, self.queue, lost))
        by_interval: dict[int, list] = {}
        for r in subscribed:
            by_interval.setdefault(r.sampling_ms, []).append(r)
        for interval, group in by_interval.items():
            nodes = [client.get_node(ids[r.tag]) for r in group]
            handles = await sub.subscribe_data_change(nodes, sampling_interval=interval, queuesize=100)
            for r, handle in zip(group, handles):
                if isinstance(handle, ua.StatusCode):
                    raise RuntimeError(f"cannot monitor {self.asset.id}.{r.tag}: {handle.name}")

    async def _poll(self, client: Client, node_id: ua.NodeId, tag: str, period: float, lost: asyncio.Event) -> None:
        node = client.get_node(node_id)
        while not lost.is_set():
            try:
                dv = await node.read_data_value()
            except Exception:
                lost.set()
                return
            self.queue.put_nowait(Sample(self.asset.id, tag, dv.Value.Value if dv.Value else None,
                                         dv.SourceTimestamp, dv.ServerTimestamp, dv.StatusCode))
            await asyncio.sleep(period)


def _set(event: asyncio.Event):
    async def setter():
        event.set()
    return setter()


async def _close(client: Client) -> None:
    try:
        await asyncio.wait_for(client.disconnect(), 2.0)
    except Exception:
        pass  # the server may already be gone; the socket is closed either way


class Ingest:
    """All assets of a plant, one pump appending their events to the telemetry topic."""

    def __init__(self, settings: Settings, plant: PlantConfig):
        self.settings = settings
        self.plant = plant
        self.queue: asyncio.Queue = asyncio.Queue()
        self._last: dict[tuple[str, str], tuple[float, events.Scalar]] = {}  # (asset, tag) -> last sent
        self._seq: dict[str, int] = {}
        self._machine_state: dict[str, str] = {}
        self._state_tags = {a.id: a.state_tag for a in plant.assets if a.state_tag is not None}
        self.delivery_error: BaseException | None = None

    def to_events(self, item: Sample | Transition) -> list[events.Telemetry | events.StateTransition]:
        """Events for a queued item: its Telemetry, plus a machine StateTransition when a
        machine-state tag (the asset's ``state_tag``) changed value (what availability and OEE
        analytics are built on)."""
        event = self.to_event(item)
        if not isinstance(event, events.Telemetry) or event.tag != self._state_tags.get(event.asset_id):
            return [] if event is None else [event]
        previous = self._machine_state.get(event.asset_id)
        self._machine_state[event.asset_id] = str(event.value)
        if previous == str(event.value):
            return [event]
        if previous is not None:
            metrics.MACHINE_STATE.labels(event.asset_id, previous).set(0)
        metrics.MACHINE_STATE.labels(event.asset_id, str(event.value)).set(1)
        return [event, events.StateTransition(
            event_id=f"{event.event_id}:state", asset_id=event.asset_id, event_time=event.event_time,
            kind="machine", from_state=previous, to_state=str(event.value), reason="state tag changed")]

    def to_event(self, item: Sample | Transition) -> events.Telemetry | events.StateTransition | None:
        """The event for a queued item, or None if it is a replayed or unusable sample."""
        if isinstance(item, Transition):
            return events.StateTransition(event_id=uuid.uuid4().hex, asset_id=item.asset_id, event_time=item.at,
                                          kind="connection", to_state=item.to_state, reason=item.reason)
        value = to_scalar(item.value)
        ts_dt = item.source_ts or item.server_ts
        ts = ts_dt.timestamp() if ts_dt is not None else time.time()
        key = (item.asset_id, item.tag)
        if value is None or (isinstance(value, float) and value != value):
            log.warning("asset %s tag %s: unsupported value %r skipped", item.asset_id, item.tag, item.value)
            metrics.SAMPLES_REFUSED.labels(item.asset_id).inc()
            return None
        last = self._last.get(key)
        if last is not None:
            if last == (ts, value):
                return None  # the server resending what we sent (a resubscription's initial value)
            if ts < last[0]:  # the PLC's clock stepped back: kept (log order wins), and said
                metrics.CLOCK_STEPS_BACK.labels(item.asset_id).inc()
                log.warning("asset %s tag %s: source time %.3f is %.3f s before the previous sample's; kept",
                            item.asset_id, item.tag, ts, last[0] - ts, extra={"asset_id": item.asset_id})
        self._last[key] = (ts, value)
        try:
            event = events.Telemetry(event_id=uuid.uuid4().hex, asset_id=item.asset_id, event_time=ts, tag=item.tag,
                                     value=value, quality=quality(item.status), seq=self._seq.get(item.asset_id, 0) + 1)
        except ValueError as exc:  # outside the contract (an infinite value, a PLC clock at 1601): said, not sent
            log.warning("asset %s tag %s: sample %r at %r refused: %s", item.asset_id, item.tag, item.value, ts, exc)
            metrics.SAMPLES_REFUSED.labels(item.asset_id).inc()
            return None
        self._seq[item.asset_id] = event.seq
        return event

    def _check_delivery(self, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None:
            # An unacknowledged append is lost data: stop so a supervisor restarts us loudly.
            self.delivery_error = future.exception() or RuntimeError("append cancelled")
            log.error("telemetry append failed: %r", self.delivery_error)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        producer = await start_producer(self.settings, linger_ms=1)
        sessions = [asyncio.create_task(AssetIngest(a, self.queue).run(), name=f"ingest {a.id}")
                    for a in self.plant.assets]
        try:
            while stop is None or not stop.is_set():
                if self.delivery_error is not None:
                    raise RuntimeError(f"telemetry append failed: {self.delivery_error!r}")
                try:
                    item = await asyncio.wait_for(self.queue.get(), 0.5)
                except asyncio.TimeoutError:
                    continue
                for event in self.to_events(item):
                    future = await append(producer, self.settings, events.TELEMETRY, event)
                    future.add_done_callback(self._check_delivery)
                    metrics.TELEMETRY_APPENDED.labels(event.asset_id).inc()
                    metrics.EVENTS_OUT.labels(self.settings.topic(events.TELEMETRY), event.asset_id).inc()
        finally:
            for s in sessions:
                s.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)
            await producer.stop()  # flushes what was appended
