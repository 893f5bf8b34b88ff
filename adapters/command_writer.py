"""The command writer: Command events -> checked OPC UA writes / method calls -> CommandResult events.

Commands run in per-asset lanes (``adapters.lanes``): in log order per asset, the
interlocks' stops first, a rate limit per asset, and no asset waiting behind
another one's slow or unreachable PLC.

For each command: skip it if the ledger has its result (a
redelivery or replay); refuse it if the asset, tag or method is not allowed,
or the value has the wrong type or is out of limits; expire it if its
deadline passed; otherwise write, read back, and report. The result is
appended (and acknowledged) before the command's offset is committed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections import deque
from datetime import datetime, timezone

from aiokafka import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from asyncua import Client, ua
from asyncua.ua.ua_binary import variant_to_binary
from asyncua.client.ua_client import UaClientState

from adapters.lanes import NORMAL, SAFETY, Lane, OffsetTracker
from adapters.ledger import Ledger, LedgerError
from adapters.mode_watch import ModeWatch
from factory_app.rules import same
from factory_app.rules.registry import kind_of
from adapters.opcua_session import node_ids, open_client
from factory_app import dead_letter_send, events, metrics
from factory_app.config import Asset, MethodSpec, PlantConfig, WriteTag
from factory_app.kafka_clients import consumer_of, partitions_of, read_bounded, start_consumer
from factory_app.producer import start_producer
from factory_app.settings import Settings

log = logging.getLogger(__name__)

_VARIANT = {"float": ua.VariantType.Double, "int": ua.VariantType.Int64, "bool": ua.VariantType.Boolean}


class Fenced(Exception):
    """This writer may no longer own the command's partition: it must not act, nor answer."""


class Refused(Exception):
    """A command that must not reach the PLC; ``status`` is rejected or expired."""

    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def check_value(spec: WriteTag, value) -> float | int | bool:
    """The value coerced to the tag's type, or ``Refused`` saying why it may not be written."""
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise Refused("rejected", f"{spec.tag} takes a bool, got {type(value).__name__} {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused("rejected", f"{spec.tag} takes a {spec.type}, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise Refused("rejected", f"{spec.tag}: {value!r} is not a finite number")
    if spec.type == "int":
        if isinstance(value, float) and not value.is_integer():  # an int as such (no float round trip: 2**63-1)
            raise Refused("rejected", f"{spec.tag} takes an int, got {value!r}")
        value = int(value)
        if not INT64_MIN <= value <= INT64_MAX:  # 1e300 is integral, and no Int64 can carry it
            raise Refused("rejected", f"{spec.tag}={value:.6g} is outside the OPC UA Int64 range")
    else:
        value = float(value)
    if spec.min is not None and value < spec.min or spec.max is not None and value > spec.max:
        raise Refused("rejected", f"{spec.tag}={value!r} is outside its limits [{spec.min}, {spec.max}]")
    return value


INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1


def encodable(variant: ua.Variant, what: str) -> ua.Variant:
    """The variant, once it is known to encode: a value that fails in the request's encoding would
    fail after the request was begun, where "may have landed" (unknown) is all the writer could say."""
    try:
        variant_to_binary(variant)
    except Exception as exc:
        raise Refused("rejected", f"{what}: {variant.Value!r} cannot be encoded as {variant.VariantType.name}: {exc}")
    return variant


def readback_outcome(spec: WriteTag, value, readback) -> tuple[str, str]:
    """(status, detail) of a write the PLC accepted, from what it reads back."""
    if spec.type == "float" and isinstance(readback, (int, float)) and not isinstance(readback, bool):
        same = abs(float(readback) - float(value)) <= spec.readback_tolerance
    else:
        same = readback == value and type(readback) is type(value)
    if same:
        return "applied", f"{spec.tag} = {value!r}"
    return "applied_mismatch", f"wrote {spec.tag} = {value!r} but read back {readback!r}"


_ARG_VARIANT = {"float": ua.VariantType.Double, "int": ua.VariantType.Int64, "bool": ua.VariantType.Boolean}


def check_args(spec: MethodSpec, args: tuple) -> list[ua.Variant]:
    """The call's arguments typed as the plant file declares them, or ``Refused``."""
    if len(args) != len(spec.args):
        raise Refused("rejected", f"{spec.name}() takes {len(spec.args)} argument(s), got {len(args)}")
    out = []
    for i, (arg_spec, arg) in enumerate(zip(spec.arg_specs, args)):
        value = check_value(WriteTag(tag=f"{spec.name}() argument {i + 1}", node="-", type=arg_spec.type,
                                     min=arg_spec.min, max=arg_spec.max), arg)
        out.append(encodable(ua.Variant(value, _ARG_VARIANT[arg_spec.type]), f"{spec.name}() argument {i + 1}"))
    return out


def check_command(plant: PlantConfig, cmd: events.Command) -> tuple[Asset, WriteTag | None]:
    """The asset (and write spec) a command may act on, or ``Refused`` by the allow-list."""
    asset = plant.asset(cmd.asset_id)
    if asset is None:
        raise Refused("rejected", f"unknown asset {cmd.asset_id!r}")
    if not plant.may_act(cmd.rule, cmd.asset_id, cmd.action, cmd.target):
        raise Refused("rejected", f"{cmd.rule!r} may not {cmd.action} {cmd.asset_id}.{cmd.target} "
                                  f"(the plant file's rules and operators say who may act on what)")
    allowed = plant.allowed_asks(cmd.rule, cmd.asset_id, cmd.action, cmd.target)
    if allowed is not None and not asks_one_of(cmd, allowed):
        what = "values" if cmd.action == "write" else "arguments"
        asked = cmd.value if cmd.action == "write" else tuple(cmd.args)
        raise Refused("rejected", f"rule {cmd.rule!r} may {cmd.action} {cmd.asset_id}.{cmd.target} only with the "
                                  f"{what} its configuration names ({', '.join(map(repr, allowed))}), not {asked!r}")
    if cmd.action == "write":
        spec = asset.writable(cmd.target)
        if spec is None:
            raise Refused("rejected", f"{cmd.asset_id}.{cmd.target} is not in the write allow-list")
        return asset, spec
    if asset.method(cmd.target) is None:
        raise Refused("rejected", f"{cmd.asset_id}.{cmd.target}() is not an allowed method")
    return asset, None


def asks_one_of(cmd: events.Command, allowed: tuple) -> bool:
    """Whether the command's value (a write) or arguments (a call) is exactly one of ``allowed``
    (True is not 1; 40 and 40.0 are one value)."""
    if cmd.action == "write":
        return any(same(cmd.value, v) for v in allowed)
    return any(len(cmd.args) == len(a) and all(same(x, y) for x, y in zip(cmd.args, a)) for a in allowed)


def takes_safety_lane(plant: PlantConfig, cmd: events.Command, safety_rules: set[str]) -> bool:
    """Only a safety rule's command asking exactly what its configuration allows (an interlock's
    stop) goes ahead of the queue, without the rate limit; anything else naming it waits its turn
    (and is then refused by the checks)."""
    if cmd.rule not in safety_rules:
        return False
    allowed = plant.allowed_asks(cmd.rule, cmd.asset_id, cmd.action, cmd.target)
    return bool(allowed) and asks_one_of(cmd, allowed)


class Sessions:
    """One lazily opened OPC UA session per asset; a failed call drops it so the next one reconnects."""

    def __init__(self):
        self._clients: dict[str, tuple[Client, dict]] = {}
        self._round_trips: dict[str, deque[float]] = {}  # per asset, survives reconnects: it is the link's

    def round_trip(self, asset: Asset) -> float:
        """The longest of the PLC's last ``ROUND_TRIPS_KEPT`` write/call round trips (0 before the first)."""
        seen = self._round_trips.get(asset.id)
        return max(seen) if seen else 0.0

    def observed(self, asset: Asset, seconds: float) -> None:
        self._round_trips.setdefault(asset.id, deque(maxlen=ROUND_TRIPS_KEPT)).append(seconds)

    async def get(self, asset: Asset) -> tuple[Client, dict]:
        entry = self._clients.get(asset.id)
        if entry is not None and entry[0].uaclient.state is not UaClientState.CONNECTED:
            # The PLC went away since the last command (its socket closed): a new session, not a
            # write into the dead one (whose outcome could only be "unknown").
            await self.drop(asset)
        if asset.id not in self._clients:
            client = await open_client(asset)
            self._clients[asset.id] = (client, await node_ids(client, asset))
        return self._clients[asset.id]

    async def drop(self, asset: Asset) -> None:
        entry = self._clients.pop(asset.id, None)
        if entry is not None:
            try:
                await asyncio.wait_for(entry[0].disconnect(), 2.0)
            except Exception:
                pass

    async def close(self) -> None:
        for asset_id in list(self._clients):
            entry = self._clients.pop(asset_id)
            try:
                await asyncio.wait_for(entry[0].disconnect(), 2.0)
            except Exception:
                pass


# Waits between attempts to reach an unreachable PLC: short at first (a PLC restarting), then
# at most RECONNECT_MAX_S (no storm of connection attempts at a PLC that stays away).
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.2, 2.0


def reconnect_delay(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th failed attempt (1, 2, ...): doubling, capped."""
    return min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2 ** (attempt - 1))


# Write round trips kept per PLC: the margin a write needs is the longest of these.
ROUND_TRIPS_KEPT = 20
# Reading back is verification, not actuation: it may finish after the deadline, within this.
READBACK_MIN_S = 1.0
# CommandResult.detail must stay within the contract's text limit, or consumers refuse the result.
_DETAIL_CHARS = 1000


async def apply(sessions: Sessions, asset: Asset, spec: WriteTag | None, cmd: events.Command, value,
                deadline: float, clock, confirm=None, hold=None) -> tuple[str, str, events.Scalar | None]:
    """Perform the write or call on the PLC; return (status, detail, readback).

    The deadline is kept at the moment of acting: opening the session is bounded by the
    time left, the time left is checked again immediately before the write or call is
    sent, and the write itself is bounded by it. A command whose time ran out before the
    write was sent is ``expired`` with nothing sent; a write that got no answer in time
    is reported as an unknown outcome (it may have landed).

    ``confirm(timeout)`` (the writer's hold on the command's partition) is awaited after
    the session is open, just before the last deadline check; it raises ``Fenced`` when
    another writer may own the command, and nothing is sent. ``hold()``, asked at the same last
    moment, names a reason not to act any more (the asset taken into manual): ``rejected``,
    nothing sent.
    """
    def left() -> float:
        return deadline - clock()

    if left() <= 0:
        return "expired", f"deadline passed {-left():.3f}s ago, before the PLC session was opened; nothing sent", None
    # An unreachable PLC (restarting, a cable pulled) is tried again until the deadline: the
    # command is still valid until then, and the rule that sent it is not asked again.
    attempts, why = 0, ""
    while True:
        try:
            client, ids = await asyncio.wait_for(sessions.get(asset), left())
            break
        except asyncio.TimeoutError:
            why = "the PLC did not answer the session request"
        except Exception as exc:
            why = f"PLC unreachable: {type(exc).__name__}: {exc}"
        attempts += 1
        if left() <= 0:
            return "expired", f"deadline passed after {attempts} connection attempt(s); {why}; nothing sent", None
        metrics.WRITER_RECONNECTS.labels(asset.id).inc()
        if attempts == 1:
            log.warning("%s unreachable for command %s (%s); trying again until its deadline", asset.id,
                        cmd.command_id, why, extra={"asset_id": asset.id, "command_id": cmd.command_id})
        await asyncio.sleep(min(reconnect_delay(attempts), left()))
    if confirm is not None:
        await confirm(max(left(), 0.001))
    # The last moment at which not acting is still a choice.
    held = hold() if hold is not None else None
    if held:
        return "rejected", f"{held}; nothing sent", None
    remaining = left()
    if remaining <= 0:
        return "expired", f"deadline passed {-remaining:.3f}s before the write could be sent; nothing sent", None
    # A write sent with less time left than this PLC's recent round trips would likely land after
    # the deadline (seen: 83 ms late under load): not sent.
    margin = sessions.round_trip(asset)
    if remaining <= margin:
        metrics.WRITER_NO_TIME.labels(asset.id).inc()
        return "expired", (f"{remaining:.3f}s left, under the PLC's observed write round trip ({margin:.3f}s); "
                           "nothing sent"), None
    sent, started = False, time.monotonic()
    try:
        if spec is not None:
            node = client.get_node(ids[f"write:{spec.tag}"])
            data = ua.DataValue(ua.Variant(value, _VARIANT[spec.type]), SourceTimestamp=datetime.now(timezone.utc))
            sent = True  # from here on a failure may come after the request left
            await asyncio.wait_for(node.write_value(data), remaining)
            sessions.observed(asset, time.monotonic() - started)
            try:
                readback = await asyncio.wait_for(node.read_value(), max(left(), READBACK_MIN_S))
            except Exception as exc:  # the write was acknowledged Good; only its verification failed
                await sessions.drop(asset)
                return "applied_unverified", f"{spec.tag} = {value!r} written; read-back failed: {exc!r}", None
            status, detail = readback_outcome(spec, value, readback)
            return status, detail, readback
        obj = client.get_node(ids[f"method-object:{cmd.target}"])
        sent = True
        await asyncio.wait_for(obj.call_method(ids[f"method:{cmd.target}"], *value), remaining)
        sessions.observed(asset, time.monotonic() - started)
        return "applied", f"{cmd.target}() returned Good", None
    except ua.UaStatusCodeError as exc:  # the PLC answered: it did not apply it
        sessions.observed(asset, time.monotonic() - started)
        metrics.OPCUA_WRITE_ERRORS.labels(asset.id).inc()
        return "refused", f"PLC refused: {type(exc).__name__}", None
    except asyncio.TimeoutError:
        sessions.observed(asset, time.monotonic() - started)  # at least this long: the margin grows
        metrics.OPCUA_WRITE_ERRORS.labels(asset.id).inc()
        await sessions.drop(asset)  # a request abandoned mid-flight leaves the session in doubt
        return "unknown", "outcome unknown: no answer from the PLC within the deadline; the write may have landed", None
    except Exception as exc:  # the session died under us
        metrics.OPCUA_WRITE_ERRORS.labels(asset.id).inc()
        await sessions.drop(asset)
        if sent:
            return "unknown", f"outcome unknown: PLC call failed: {type(exc).__name__}: {exc}", None
        return "not_sent", f"PLC call failed before sending: {type(exc).__name__}: {exc}", None


class CommandWriter:
    """Consumes the commands topic in its own consumer group and writes to the PLCs."""

    def __init__(self, settings: Settings, plant: PlantConfig, clock=time.time):
        self.settings = settings
        self.plant = plant
        self.clock = clock
        self.group = f"{settings.worker.app_id}-command-writer"
        self.ledger = Ledger(settings.home / "command-writer" / "ledger")
        self.sessions = Sessions()
        self._failure: Exception | None = None  # a lane's unrecoverable error; ends run()
        self._producer = None
        self._consumer = None
        self.ledger_current = asyncio.Event()  # set while the ledger holds the log's intents up to assignment
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self._assets = frozenset(a.id for a in plant.assets)
        self._origins = frozenset([r.name for r in plant.rules] + [o.name for o in plant.operators])
        self._rules = frozenset(r.name for r in plant.rules)
        self._safety_rules = {r.name for r in plant.rules if kind_of(r).safety}
        self.modes = ModeWatch(settings)
        for asset in plant.assets:  # export zeros, so dashboards see the series from the start
            metrics.OPCUA_WRITE_ERRORS.labels(asset.id)
            metrics.WRITER_NO_TIME.labels(asset.id)
        for reason in events.DEAD_LETTER_REASONS:
            metrics.DEAD_LETTERS.labels("command-writer", reason)
            metrics.DEAD_LETTERS_UNSENT.labels("command-writer", reason)

    async def _catch_up_ledger(self) -> None:
        """Read what the log says was done, from where the ledger left off: a result in the log is a
        result, an intent in the log means the command may have been applied."""
        for logical, stream in ((events.COMMAND_RESULTS, "results"), (events.COMMAND_INTENTS, "intents")):
            await self._catch_up(self.settings.topic(logical), stream)

    async def _catch_up(self, topic: str, stream: str) -> None:
        async with consumer_of(self.settings.kafka) as consumer:
            tps = await partitions_of(consumer, topic)
            starts = {tp: self.ledger.read_offset(stream, tp.partition) for tp in tps}
            async for tp, records in read_bounded(consumer, dict(await consumer.end_offsets(tps)), starts):
                for rec in records:
                    self._absorb(rec.value)
                self.ledger.set_read_offset(stream, tp.partition, records[-1].offset + 1)

    def _absorb(self, raw: bytes) -> None:
        try:
            event = events.decode(raw, expect=(events.CommandResult, events.CommandIntent))
        except events.DecodeFailure:
            return
        if isinstance(event, events.CommandIntent):
            self.ledger.record_intent(event.command_id)
        elif event.status != "conflict":  # a conflict report is not the command's result
            self.ledger.record_result(event.command_id, event.status)

    async def _append(self, *messages: tuple[str, bytes, bytes | None]) -> None:
        """Append ``(topic, value, key)`` messages and wait until the log holds them (acks=all).

        Not transactional, on purpose: aiokafka's consumer does not step over a transaction
        marker at the end of a partition (aio-libs/aiokafka#911), so reading results and
        intents "up to the end" at start would hang. Fencing a second writer needs another
        means (see docs/safety.md)."""
        for topic, value, key in messages:
            await (await self._producer.send(topic, value, key=key))

    async def _announce(self, cmd: events.Command) -> None:
        """Put the intent in the log (acknowledged by every in-sync replica) before acting."""
        intent = events.CommandIntent(event_id=f"{cmd.command_id}:intent", asset_id=cmd.asset_id,
                                      event_time=self.clock(), command_id=cmd.command_id, rule=cmd.rule,
                                      writer=self.instance)
        await self._append((self.settings.topic(events.COMMAND_INTENTS), events.encode(intent),
                            cmd.asset_id.encode()))

    def effective_deadline(self, cmd: events.Command, received: float) -> float:
        """The command's deadline, clamped to receipt + ``max_command_deadline``."""
        return min(cmd.deadline, received + self.settings.adapters.max_command_deadline)

    async def handle(self, cmd: events.Command, confirm=None) -> events.CommandResult | None:
        """The result for one command, or None when it already has one (never applied twice).

        ``confirm`` (see ``apply``) fences the write: raises ``Fenced`` when this writer
        may have lost the command to another one (the outcome ``not_sent`` is then kept in
        the ledger, for this writer to answer should the command come back to it)."""
        received = self.clock()
        digest = events.command_digest(cmd)
        known = self.ledger.digest(cmd.command_id)
        if known is not None and known != digest:
            # Another command under a handled id: a forgery or a bug, never a redelivery. The
            # first one's result stands; this one is not applied and the conflict is visible.
            metrics.COMMAND_CONFLICTS.inc()
            log.error("command %s: id reused with other content (digest %s, first %s); not applied",
                      cmd.command_id, digest, known,
                      extra={"asset_id": cmd.asset_id, "command_id": cmd.command_id, "rule": cmd.rule})
            return events.CommandResult(
                event_id=f"{cmd.command_id}:conflict:{digest}", asset_id=cmd.asset_id, event_time=self.clock(),
                command_id=cmd.command_id, status="conflict", rule=cmd.rule,
                detail=f"id already used by a command with other content ({known}); this one ({digest}) not applied")
        if known is None:
            self.ledger.record_digest(cmd.command_id, digest)
        if self.ledger.has_result(cmd.command_id):
            metrics.COMMAND_DUPLICATES.inc()
            log.info("command %s already has a result (%s); not applied again", cmd.command_id,
                     self.ledger.status(cmd.command_id),
                     extra={"asset_id": cmd.asset_id, "command_id": cmd.command_id, "rule": cmd.rule})
            return None
        if self.ledger.has_intent(cmd.command_id):
            recorded = self.ledger.outcome(cmd.command_id)
            if recorded is not None:  # known, but its result never reached the log: say it now
                status, detail, readback = recorded
                detail = f"{detail} (result re-sent after a writer restart)"
            else:
                status, detail, readback = ("unknown", "outcome unknown: the writer stopped while applying it; "
                                            "not applied again", None)
        else:
            deadline = self.effective_deadline(cmd, received)
            try:
                asset, spec = check_command(self.plant, cmd)
                value = (check_value(spec, cmd.value) if spec is not None
                         else check_args(asset.method(cmd.target), cmd.args))
                if spec is not None:
                    encodable(ua.Variant(value, _VARIANT[spec.type]), f"{cmd.asset_id}.{spec.tag}")
                held = self.held(cmd)
                if held:
                    raise Refused("rejected", f"{held}; nothing sent")
                now = self.clock()
                if now > deadline:
                    raise Refused("expired", f"deadline passed {now - deadline:.3f}s ago; nothing sent")
            except Refused as refused:
                status, detail, readback = refused.status, refused.detail, None
            except Exception as exc:  # no content of a message may stop the writer: refuse what cannot be checked
                status, detail, readback = "rejected", f"could not be checked: {type(exc).__name__}: {exc}", None
            else:
                await self._announce(cmd)  # in the log first: no writer will ever act on it again
                self.ledger.record_intent(cmd.command_id)
                try:
                    status, detail, readback = await apply(self.sessions, asset, spec, cmd, value, deadline,
                                                           self.clock, confirm, hold=lambda: self.held(cmd))
                except Fenced as fenced:
                    self._keep_outcome(cmd, "not_sent", f"{fenced}; nothing sent", None)
                    raise
                # Known before it is told: a crash before the append re-sends this, not "unknown".
                self._keep_outcome(cmd, status, detail, readback)
        return self.result(cmd, status, detail, readback)

    def held(self, cmd: events.Command) -> str | None:
        """Why ``cmd`` may not act now although it passed its checks: a rule's command for an asset
        an operator has in manual (operators act in manual; an interlock's exact stop always acts)."""
        if cmd.rule not in self._rules or takes_safety_lane(self.plant, cmd, self._safety_rules):
            return None
        return self.modes.refusal(cmd.asset_id)

    def _keep_outcome(self, cmd: events.Command, status: str, detail: str, readback) -> None:
        """Record what applying did; past the PLC, a ledger failure must not lose the result: it
        still goes to the log (only a crash before that append would make it ``unknown``)."""
        try:
            self.ledger.record_outcome(cmd.command_id, status, detail, readback)
        except LedgerError as exc:
            metrics.WRITER_LEDGER_ERRORS.inc()
            log.error("command %s: %s; its result goes to the log all the same", cmd.command_id, exc,
                      extra={"asset_id": cmd.asset_id, "command_id": cmd.command_id, "rule": cmd.rule})

    def result(self, cmd: events.Command, status: str, detail: str, readback=None) -> events.CommandResult:
        return events.CommandResult(
            event_id=f"{cmd.command_id}:result", asset_id=cmd.asset_id, event_time=self.clock(),
            command_id=cmd.command_id, status=status, detail=detail[:_DETAIL_CHARS], rule=cmd.rule,
            readback=readback)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        producer = self._producer = await start_producer(self.settings, linger_ms=0)
        tracker = OffsetTracker()
        lanes: dict[str, Lane] = {}
        consumer = self._consumer = await start_consumer(
            bootstrap=self.settings.kafka, group_id=self.group, enable_auto_commit=False, auto_offset_reset="earliest",
            isolation_level="read_committed",
            # A writer that stops polling (frozen, partitioned away) is dropped from the group after
            # 20 s, not Kafka's default 5 minutes, so a standby takes over while the zombie is fenced.
            max_poll_interval_ms=20_000, rebalance_timeout_ms=20_000)
        safety_rules = self._safety_rules
        try:
            # The operators' modes as of now before any command: a rule's command is checked against them.
            await self.modes.start()
            consumer.subscribe([self.settings.topic(events.COMMANDS)],
                               listener=_Handover(self, consumer, tracker, lanes))
            log.info("command writer ready (group %s)", self.group)
            while stop is None or not stop.is_set():
                if self._failure is not None:
                    raise RuntimeError(f"command writer stopped: {self._failure!r}") from self._failure
                batch = await consumer.getmany(timeout_ms=100, max_records=100)
                if batch and not self.ledger_current.is_set():
                    # Fetched while partitions move: wait for the log's intents (bounded, to notice a failure).
                    try:
                        await asyncio.wait_for(self.ledger_current.wait(), 5.0)
                    except asyncio.TimeoutError:
                        pass
                    if not self.ledger_current.is_set():
                        for tp, records in batch.items():  # read these again once the log is caught up
                            if tp in consumer.assignment():
                                consumer.seek(tp, records[0].offset)
                        continue
                for tp, records in batch.items():
                    for rec in records:
                        tracker.started(tp, rec.offset)
                        cmd = await self._decode(rec)
                        if cmd is None:
                            tracker.done(tp, rec.offset)
                            continue
                        lane = self._lane(lanes, cmd.asset_id, tracker)
                        lane.put(SAFETY if takes_safety_lane(self.plant, cmd, safety_rules) else NORMAL,
                                 (tp, rec.offset, cmd))
                # A result is acknowledged before its offset may move: commit what is done.
                try:
                    await self._commit(consumer, tracker)
                except (CommitFailedError, IllegalStateError) as exc:  # a rebalance: the listener hands over
                    log.warning("commit refused (%s); the group is rebalancing", exc)
        finally:
            # Let the lanes finish what they hold (each command is bounded by its deadline), briefly.
            await asyncio.gather(*(lane.drain(5.0) for lane in lanes.values()))
            for lane in lanes.values():
                await lane.close()
            # Each step bounded: with the broker gone they would retry for ever, and a writer that
            # cannot stop outlives its supervisor.
            for step, what in ((self._commit(consumer, tracker), "final commit"), (consumer.stop(), "consumer stop"),
                               (self.modes.stop(), "mode watch stop"),
                               (producer.stop(), "producer stop"), (self.sessions.close(), "PLC sessions close")):
                try:
                    await asyncio.wait_for(step, 10.0)
                except Exception as exc:  # uncommitted commands are re-read, and answered from the log
                    log.warning("%s failed while stopping: %r", what, exc)
            self.ledger.close()

    def _lane(self, lanes: dict[str, Lane], asset_id: str, tracker: OffsetTracker) -> Lane:
        key = asset_id if self.plant.asset(asset_id) is not None else "(unknown assets)"  # a bounded set
        if key not in lanes:
            async def work(item) -> None:
                tp, offset, cmd = item
                if tp not in self._consumer.assignment():
                    return  # handed over to another writer while it waited; it is not ours to answer
                try:
                    await self._report(cmd, lambda timeout: self._confirm(tp, tracker, timeout))
                except Fenced as fenced:
                    log.warning("command %s not applied: %s", cmd.command_id, fenced,
                                extra={"asset_id": cmd.asset_id, "command_id": cmd.command_id, "rule": cmd.rule})
                    return  # not done: whoever owns the partition now answers it
                except Exception as exc:  # e.g. the result could not be appended: stop, re-read it after
                    log.exception("command %s: no result appended; the writer stops", cmd.command_id)
                    self._failure = self._failure or exc
                    return  # not done: its offset is never committed
                tracker.done(tp, offset)
            lanes[key] = Lane(key, work, self.settings.adapters.command_min_interval, self.clock)
        return lanes[key]

    async def _confirm(self, tp, tracker: OffsetTracker, timeout: float) -> None:
        """Raise ``Fenced`` unless the group coordinator takes a commit for ``tp`` from this member now.

        A commit carries the member's generation: the coordinator refuses it once this writer
        was dropped from the group (frozen past the poll interval, cut off) or a rebalance began.
        Confirmed after the intent is in the log, so a writer that took the partition over
        either finds the intent when it reads the log at assignment, or this commit fails.
        """
        floor = tracker.floor(tp)
        if floor is None:
            raise Fenced(f"fenced: {tp.topic}[{tp.partition}] was handed over while the command waited")
        try:
            await asyncio.wait_for(self._consumer.commit({tp: floor}), timeout)
        except (CommitFailedError, IllegalStateError) as exc:
            raise Fenced(f"fenced: the group no longer confirms this writer on {tp.topic}[{tp.partition}] "
                         f"({type(exc).__name__})") from exc
        except asyncio.TimeoutError:
            raise Fenced("fenced: the group coordinator did not confirm this writer before the deadline") from None
        tracker.committed({tp: floor})

    @staticmethod
    async def _commit(consumer, tracker: OffsetTracker) -> None:
        offsets = tracker.committable()
        if offsets:
            await consumer.commit(offsets)
            tracker.committed(offsets)

    async def _decode(self, rec) -> events.Command | None:
        """The record's command, or None after dead-lettering it (or counting it, when even the
        bounded dead letter cannot be sent: no record may stop the writer)."""
        try:
            return events.decode_keyed(rec.key, rec.value, (events.Command,))
        except events.DecodeFailure as failure:
            letter = dead_letter_send.letter_for(failure, rec, "command-writer")
            await dead_letter_send.send(self._producer, self.settings.topic(events.DEAD_LETTER), letter)
            return None

    async def _report(self, cmd: events.Command, confirm=None) -> None:
        """Handle one command and append its result (unless it already had one)."""
        try:
            result = await self.handle(cmd, confirm)
        except Fenced:
            raise
        except LedgerError as exc:  # only before the PLC is touched: past it, outcomes are kept best-effort
            metrics.WRITER_LEDGER_ERRORS.inc()
            log.error("command %s not sent: %s", cmd.command_id, exc,
                      extra={"asset_id": cmd.asset_id, "command_id": cmd.command_id, "rule": cmd.rule})
            result = self.result(cmd, "not_sent", f"{exc}; a command the writer cannot record is not sent to the PLC")
        except Exception as exc:  # a bug of ours must not block every later command either
            log.exception("command %s: writer error", cmd.command_id)
            try:
                status = "unknown" if self.ledger.has_intent(cmd.command_id) else "rejected"
            except LedgerError:
                status = "unknown"  # cannot tell whether it was sent: say so
            result = self.result(cmd, status, f"writer error: {type(exc).__name__}: {exc}")
        if result is None:
            return
        await self._append((self.settings.topic(events.COMMAND_RESULTS), events.encode(result),
                            cmd.asset_id.encode()))
        if result.status != "conflict":  # the original's result stands
            try:
                self.ledger.record_result(cmd.command_id, result.status)
            except LedgerError as exc:  # the log has it; the ledger reads it from there when it can
                metrics.WRITER_LEDGER_ERRORS.inc()
                log.error("command %s: result in the log, not in the ledger: %s", cmd.command_id, exc)
        rule = metrics.known_or_other(cmd.rule, self._origins)  # a command may name anything
        metrics.COMMAND_RESULTS.labels(rule, result.status).inc()
        metrics.EVENTS_OUT.labels(self.settings.topic(events.COMMAND_RESULTS),
                                  metrics.known_or_other(cmd.asset_id, self._assets)).inc()
        if result.status == "applied":
            metrics.LOOP_LATENCY.labels(rule).observe(max(0.0, result.event_time - cmd.event_time))
        log.info("command %s %s %s: %s (%s)", cmd.command_id, cmd.asset_id, cmd.target, result.status, result.detail,
                 extra={"asset_id": cmd.asset_id, "command_id": cmd.command_id, "rule": cmd.rule,
                        "status": result.status})


class _Handover(ConsumerRebalanceListener):
    """What a writer does when the group moves partitions (awaited by aiokafka around a rebalance).

    Revoked: let the commands in flight finish (briefly: the group waits), commit them and
    forget the partitions. Assigned: read the results and intents appended up to now, by any
    writer, before acting on a partition: a command another writer announced is never applied again.
    """

    HANDOVER_S = 10.0  # within the 20 s rebalance timeout

    def __init__(self, writer: CommandWriter, consumer, tracker: OffsetTracker, lanes: dict[str, Lane]):
        self.writer, self.consumer, self.tracker, self.lanes = writer, consumer, tracker, lanes

    async def on_partitions_revoked(self, revoked) -> None:
        self.writer.ledger_current.clear()  # no command is dispatched until the log was read again
        if not revoked:
            return
        await asyncio.gather(*(lane.drain(self.HANDOVER_S) for lane in self.lanes.values()))
        try:
            await CommandWriter._commit(self.consumer, self.tracker)
        except Exception as exc:  # uncommitted commands are re-read by the next owner, answered from the log
            log.warning("commit before handing over %s failed: %r", sorted(map(str, revoked)), exc)
        self.tracker.forget(revoked)
        log.info("command writer handed over %d partition(s)", len(revoked))

    async def on_partitions_assigned(self, assigned) -> None:
        try:
            await self.writer._catch_up_ledger()
        except Exception as exc:  # acting without the log's intents could apply a command twice: stop
            log.exception("command writer could not read the log's results and intents")
            self.writer._failure = self.writer._failure or exc
            return
        self.writer.ledger_current.set()
        log.info("command writer took %d partition(s), having read the log's results and intents", len(assigned))
