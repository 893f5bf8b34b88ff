"""Build the Faust app of a worker: topics, the chosen processors and their tables, web views."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any

import faust

from agents.registry import PROCESSORS, chosen
from agents.live import LiveRuntime
from agents.runtime import LiveContext
from factory_app import events
from factory_app.config import PlantConfig, load_plant
from factory_app.kafka_clients import RECORD_MAX_BYTES, servers
from factory_app.kafka_security import faust_credentials
from factory_app.settings import Settings
from factory_app.worker_gauges import register_gauges
from factory_app.web_views import register_cluster_view, register_readiness, register_table_dump
from tables import rocksdb_memory

__all__ = ["PROCESSORS", "Worker", "create_app"]


@dataclass
class Worker:
    """A configured Faust app and handles on the tables it declared."""

    app: faust.App
    settings: Settings
    tables: dict[str, faust.Table] = field(default_factory=dict)
    runtime: LiveRuntime | None = None  # folds the batched processors
    liveness: Any = None  # factory_app.liveness.Liveness, started by ``factory worker`` before Faust


def faust_broker_url(bootstrap: str) -> str:
    """Faust's broker URL for a comma-separated bootstrap list."""
    return ";".join(f"kafka://{host}" for host in servers(bootstrap))


def create_app(settings: Settings, *, prometheus: bool = True, plant: PlantConfig | None = None) -> Worker:
    """Create the worker app for ``settings`` (nothing is read from globals).

    ``settings.worker.processors`` chooses the agents; ``plant`` (default: the plant
    file in settings) supplies the control rules.
    """
    processors = chosen(settings)  # ValueError naming the known ones
    if settings.worker.processing_guarantee == "exactly_once" and any(p.batched for p in processors):
        # Faust's transactions follow its per-event path (a producer per source partition, fed
        # by the current event); the runtime's batches do not go through it. Exactly-once was
        # measured unsafe under kill -9 with this Faust anyway (docs/fault-tolerance.md).
        raise ValueError("FACTORY_PROCESSING_GUARANTEE=exactly_once is not supported by the processor runtime "
                         f"({', '.join(p.name for p in processors if p.batched)}); use at_least_once "
                         "(see docs/fault-tolerance.md)")
    app = faust.App(
        settings.worker.app_id,
        broker=faust_broker_url(settings.kafka.bootstrap),
        broker_credentials=faust_credentials(settings.kafka),
        store=rocksdb_memory.STORE_URL,  # every table's databases on one memory budget
        datadir=str(_made(settings.data_dir)),
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication,
        topic_allow_declare=True,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_host=advertised_host(settings.web.host),  # Faust's canonical URL: what peers and the plant view call
        web_port=settings.web.port,
        web_bind=settings.web.host,
        web_in_thread=False,
        # Tables are only as durable as their changelog: flush and commit often.
        broker_commit_interval=1.0,
        table_standby_replicas=settings.worker.standby_replicas,
        processing_guarantee=settings.worker.processing_guarantee,
        # Room for more changelog writes per request (no linger: a lone command still leaves at
        # once). Measured: no throughput difference on this machine (1,934 vs 2,001 ev/s, one run).
        producer_max_batch_size=settings.worker.producer_batch_bytes,
        producer_max_request_size=RECORD_MAX_BYTES,  # Faust's default is 1,000,000: one limit for all
        # A killed worker's partitions move after this, not after Faust's 60 s default.
        broker_session_timeout=settings.worker.session_timeout,
        # With liveness on, often: a survivor learns of a rebalance (a peer evicted for silence) only
        # at its next heartbeat.
        broker_heartbeat_interval=min(0.25 if settings.worker.liveness_timeout > 0 else 3.0,
                                      settings.worker.session_timeout / 5),
        consumer_group_instance_id=settings.worker.instance_id,
    )

    declared: dict[str, faust.TopicT] = {}

    def topic(name: str) -> faust.TopicT:
        """The deployment's topic of logical ``name``, one Topic object per name (processors share it)."""
        if name not in declared:
            declared[name] = app.topic(settings.topic(name), key_serializer="raw", value_serializer="raw",
                                       internal=False, partitions=settings.kafka.partitions)
        return declared[name]

    loaded: list[PlantConfig] = [plant] if plant is not None else []

    def the_plant() -> PlantConfig:
        if not loaded:
            loaded.append(load_plant(settings.plant_config))
        return loaded[0]

    ctx = LiveContext(app=app, settings=settings, plant=the_plant, topic=topic,
                      dead_letter=topic(events.DEAD_LETTER))
    runtime = LiveRuntime(app, settings, ctx.dead_letter, topic(events.COMMANDS) if settings.worker.emit_commands else None,
                          known_assets=lambda: frozenset(a.id for a in the_plant().assets))
    tables: dict[str, faust.Table] = {}
    for processor in processors:
        own = processor.register(ctx)
        tables.update(own)
        if processor.batched:
            step = processor.step(settings, the_plant() if processor.uses_plant else None, processor.name)
            shadow = processor.emits_to != events.COMMANDS
            for source in processor.sources:
                runtime.add(processor.name, topic(source), processor.accepts, own, step, decides=processor.decides,
                            shadow=shadow,
                            shadow_emit=topic(processor.emits_to) if shadow and settings.worker.emit_commands else None)
    register_table_dump(app, tables)
    register_readiness(app)
    register_cluster_view(app)
    register_gauges(app, tables)
    liveness = register_liveness(app, settings) if settings.worker.liveness_timeout > 0 else None
    if prometheus:
        from faust.sensors.prometheus import setup_prometheus_sensors

        setup_prometheus_sensors(app, name_prefix="faust")
    return Worker(app=app, settings=settings, tables=tables, runtime=runtime, liveness=liveness)


def register_liveness(app: faust.App, settings: Settings):
    """The worker's beacon and watchdog (factory_app/liveness.py), started before Faust so that
    its peers know it before it holds a partition; stopped, with a last beat saying it leaves,
    before it shuts down. ``/liveness/``: the peers it hears and how long each has been silent."""
    from factory_app.liveness import Liveness
    from factory_app.private_apis import group_member_id

    worker_id = f"{socket.gethostname()}:{settings.web.port}:{os.getpid()}"
    liveness = Liveness(settings, worker_id, lambda: group_member_id(app))

    @app.on_before_shutdown.connect
    def stop_liveness(sender, **kwargs) -> None:
        liveness.stop()

    @app.page("/liveness/")
    async def peers(self, request):
        return self.json(liveness.view())
    return liveness


def advertised_host(bind: str) -> str:
    """The address other processes reach this worker at: the bound one, or for a wildcard bind
    (containers) this host's own address, never 0.0.0.0 (no one can call that)."""
    if bind in ("0.0.0.0", "::", ""):
        return socket.gethostbyname(socket.gethostname())
    return bind


def _made(path):
    """``path``, created with its parents (Faust creates only the last level)."""
    path.mkdir(parents=True, exist_ok=True)
    return path
