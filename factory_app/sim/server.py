"""One simulated PLC endpoint: an asyncua ``Server`` exposing machine models as OPC UA nodes.

Client writes to allow-listed nodes reach the model at once (PostWrite
callback), so the tick loop never overwrites a fresh write; every write a
client makes is also counted and kept in a history, which tests read through
the ``<object>.sim_write_count`` node to prove what the PLC really received.
Each endpoint also has a clock a test can set wrong: writing seconds to
``<object>.sim_clock_offset_s`` shifts the source timestamps it stamps (a PLC
whose clock was stepped); and ``<object>.sim_ack_delay_s`` makes it answer
client writes that much later, the value already applied (a PLC slow to
acknowledge: the window in which a writer can die between write and result).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from asyncua import Server, ua
from asyncua.ua import uaerrors
from asyncua.common.callback import CallbackType

from factory_app.config import Asset, PlantConfig
from factory_app.sim import physics
from factory_app.sim.address_space_cache import cache_dir, initialised_server

log = logging.getLogger(__name__)

_VTYPE = {bool: ua.VariantType.Boolean, int: ua.VariantType.Int64, float: ua.VariantType.Double,
          str: ua.VariantType.String}
_WTYPE = {"bool": bool, "int": int, "float": float}


@dataclass
class SimAsset:
    """A model and the OPC UA nodes that show it."""

    config: Asset
    model: Any
    ns: int
    nodes: dict[str, ua.NodeId] = field(default_factory=dict)  # output key -> node id
    writable: dict[str, str] = field(default_factory=dict)    # node id string -> model attribute
    write_count_node: ua.NodeId | None = None
    clock_node: ua.NodeId | None = None
    ack_delay_node: ua.NodeId | None = None
    writes: list[tuple[str, Any]] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)


class SimEndpoint:
    """An OPC UA server at one endpoint URL hosting one or more simulated assets."""

    def __init__(self, endpoint: str, assets: list[Asset], speed: float, tick_s: float,
                 user_manager=None, security=None, models: dict[str, dict[str, float]] | None = None):
        self.endpoint = endpoint
        self.speed = speed
        self.tick_s = tick_s
        self._user_manager = user_manager
        self.server: Server = None  # type: ignore[assignment]  # made at start: initialising takes I/O
        self._security = security
        models = models or {}
        self.assets = [SimAsset(config=a, model=physics.model_for(a.type, models.get(a.id)), ns=0) for a in assets]
        self._task: asyncio.Task | None = None
        self.clock_offset_s = 0.0  # this PLC's clock error
        self.ack_delay_s = 0.0  # how late it acknowledges client writes

    async def start(self) -> None:
        self.server = await initialised_server(lambda: Server(user_manager=self._user_manager), cache_dir())
        self.server.set_endpoint(self.endpoint)
        self.server.set_server_name(f"factory sim {self.endpoint}")
        if self._security is not None:
            await self._security(self.server)
        else:
            self.server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        for sa in self.assets:
            await self._build(sa)
        self.server.subscribe_server_callback(CallbackType.PostWrite, self._on_write)
        await self.server.start()
        await self._publish(initial=True)
        self._task = asyncio.create_task(self._run(), name=f"sim {self.endpoint}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self.server is not None:
            await self.server.stop()

    async def _build(self, sa: SimAsset) -> None:
        cfg = sa.config
        sa.ns = await self.server.register_namespace(cfg.namespace)
        obj = await self.server.nodes.objects.add_object(ua.NodeId(cfg.object, sa.ns), cfg.id)
        configured = {r.tag: r.node for r in cfg.read} | {w.tag: w.node for w in cfg.write}
        outputs = sa.model.outputs()
        unknown = set(configured) - set(outputs)
        if unknown:
            raise ValueError(f"asset {cfg.id}: a {cfg.type} has no tag(s) {', '.join(sorted(unknown))}")
        for key, value in outputs.items():
            node_id = ua.NodeId(configured.get(key, f"{cfg.object}.{key}"), sa.ns)
            await obj.add_variable(node_id, key, ua.Variant(value, _VTYPE[type(value)]))
            sa.nodes[key] = node_id
        for w in cfg.write:
            node = self.server.get_node(sa.nodes[w.tag])
            await node.set_writable()
            sa.writable[sa.nodes[w.tag].to_string()] = w.tag
        sa.write_count_node = ua.NodeId(f"{cfg.object}.sim_write_count", sa.ns)
        await obj.add_variable(sa.write_count_node, "sim_write_count", ua.Variant(0, ua.VariantType.Int64))
        sa.clock_node = ua.NodeId(f"{cfg.object}.sim_clock_offset_s", sa.ns)
        clock = await obj.add_variable(sa.clock_node, "sim_clock_offset_s", ua.Variant(0.0, ua.VariantType.Double))
        await clock.set_writable()
        sa.ack_delay_node = ua.NodeId(f"{cfg.object}.sim_ack_delay_s", sa.ns)
        ack = await obj.add_variable(sa.ack_delay_node, "sim_ack_delay_s", ua.Variant(0.0, ua.VariantType.Double))
        await ack.set_writable()
        for name, params in physics.METHODS[cfg.type].items():
            spec = cfg.method(name)
            method_id = ua.NodeId(spec.node if spec else f"{cfg.object}.{name}", sa.ns)
            await obj.add_method(method_id, ua.QualifiedName(name, sa.ns), self._method(sa, name),
                                 [ua.VariantType.Double] * len(params), [])

    def _method(self, sa: SimAsset, name: str):
        async def call(parent, *args):
            error = getattr(sa.model, name)(*(a.Value for a in args))
            await self._record(sa, f"method:{name}", [a.Value for a in args])
            if error:
                raise uaerrors.BadInvalidState()
            await self._publish()
            return []
        return call

    async def _on_write(self, event, dispatcher) -> None:
        if not event.is_external:
            return
        for wv, status in zip(event.request_params.NodesToWrite, event.response_params):
            if not status.is_good():
                continue
            key = wv.NodeId.to_string()
            if any(sa.clock_node is not None and key == sa.clock_node.to_string() for sa in self.assets):
                self.clock_offset_s = float(wv.Value.Value.Value)  # a test stepping this PLC's clock
                continue
            if any(sa.ack_delay_node is not None and key == sa.ack_delay_node.to_string() for sa in self.assets):
                self.ack_delay_s = float(wv.Value.Value.Value)  # a test slowing this PLC's answers
                continue
            for sa in self.assets:
                attr = sa.writable.get(key)
                if attr is None:
                    continue
                w = sa.config.writable(attr)
                value = _WTYPE[w.type](wv.Value.Value.Value)
                setattr(sa.model, attr, value)
                sa.last[attr] = sa.model.outputs()[attr]
                await self._record(sa, attr, value)
                if self.ack_delay_s > 0:  # applied already; the answer is what comes late
                    await asyncio.sleep(self.ack_delay_s)

    async def _record(self, sa: SimAsset, what: str, value) -> None:
        sa.writes.append((what, value))
        await self.server.write_attribute_value(
            sa.write_count_node, ua.DataValue(ua.Variant(len(sa.writes), ua.VariantType.Int64)))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            next_tick += self.tick_s
            for sa in self.assets:
                sa.model.step(self.tick_s * self.speed)
            await self._publish()
            await asyncio.sleep(max(0.0, next_tick - loop.time()))

    async def _publish(self, initial: bool = False) -> None:
        now = datetime.now(timezone.utc) + timedelta(seconds=self.clock_offset_s)
        for sa in self.assets:
            for key, value in sa.model.outputs().items():
                if not initial and sa.last.get(key) == value:
                    continue  # publish changes only: each sample means something happened
                if not initial and sa.nodes[key].to_string() in sa.writable:
                    continue  # client-owned: the write itself is the PLC's value
                sa.last[key] = value
                await self.server.write_attribute_value(
                    sa.nodes[key], ua.DataValue(ua.Variant(value, _VTYPE[type(value)]), SourceTimestamp=now,
                                                ServerTimestamp=now))


class SimPlant:
    """Every endpoint of a plant configuration, started and stopped together."""

    def __init__(self, config: PlantConfig):
        groups: dict[str, list[Asset]] = {}
        for asset in config.assets:
            groups.setdefault(asset.endpoint, []).append(asset)
        sec = config.sim.security
        if sec is not None:
            from factory_app.sim import security

            setup, users = security.configure(sec), security.user_manager(sec)
        else:
            setup, users = None, None
        self.endpoints = [
            SimEndpoint(ep, assets, config.sim.speed, config.sim.tick_s, user_manager=users, security=setup,
                        models=config.sim.models)
            for ep, assets in groups.items()
        ]

    async def start(self) -> None:
        """Start the endpoints one after another, each reported ready as soon as it serves.

        One after another, not together: without a cached address space
        (``address_space_cache``) each asyncua server spends its start building the standard
        address space (about 6,000 nodes; 1.3-2.8 s here, more on a loaded machine) in a
        thread, and together they would share the CPU and all be ready only at the end.
        """
        begin = time.perf_counter()
        for ep in self.endpoints:
            t0 = time.perf_counter()
            await ep.start()
            log.info("simulated PLC ready at %s (%s) in %.1f s", ep.endpoint,
                     ", ".join(a.config.id for a in ep.assets), time.perf_counter() - t0)
        log.info("all %d simulated PLCs ready in %.1f s", len(self.endpoints), time.perf_counter() - begin)

    async def stop(self) -> None:
        # All endpoints at once: each asyncua server takes about a second to stop, and a
        # plant's stop would otherwise take a second per PLC.
        results = await asyncio.gather(*(ep.stop() for ep in self.endpoints), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
