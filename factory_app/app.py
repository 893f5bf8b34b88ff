"""Build the Faust app of a worker: topics, tables, agents and web views."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from agents import command_ledger, control, telemetry_state
from factory_app import events
from factory_app.config import PlantConfig, load_plant
from factory_app.settings import Settings
from factory_app.web_views import register_command_views, register_readiness, register_state_views, register_table_dump
from tables.definitions import StateTables, state_tables


@dataclass
class Worker:
    """A configured Faust app and handles on what it declared."""

    app: faust.App
    settings: Settings
    tables: StateTables
    control_tables: dict[str, faust.Table]


def faust_broker_url(bootstrap: str) -> str:
    """Faust's broker URL for a comma-separated bootstrap list."""
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip())


def create_app(settings: Settings, *, prometheus: bool = True, plant: PlantConfig | None = None,
               control_enabled: bool = True) -> Worker:
    """Create the worker app for ``settings`` (nothing is read from globals).

    ``plant`` (default: the plant file in settings) supplies the control rules.
    """
    app = faust.App(
        settings.app_id,
        broker=faust_broker_url(settings.bootstrap),
        store="rocksdb://",
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_in_thread=False,
        # Tables are only as durable as their changelog: flush and commit often.
        broker_commit_interval=1.0,
        table_standby_replicas=0,
    )
    topic = lambda name: app.topic(  # noqa: E731
        settings.topic(name), key_serializer="raw", value_serializer="raw", internal=False,
        partitions=settings.partitions,
    )
    tables = state_tables(app, settings)
    telemetry, dead_letter = topic(events.TELEMETRY), topic(events.DEAD_LETTER)
    telemetry_state.register(app, settings, tables, telemetry, dead_letter)
    control_tables: dict[str, faust.Table] = {}
    if control_enabled:
        plant = plant or load_plant(settings.plant_config)
        control_tables = control.register(app, settings, plant, telemetry, topic(events.COMMANDS), dead_letter)
    ledger = command_ledger.register(app, settings, settings.topic(events.COMMANDS),
                                     settings.topic(events.COMMAND_RESULTS), dead_letter)
    register_state_views(app, tables)
    register_command_views(app, ledger)
    register_table_dump(app, {**tables.all(), **control_tables, "command_ledger": ledger})
    register_readiness(app)
    if prometheus:
        from faust.sensors.prometheus import setup_prometheus_sensors

        setup_prometheus_sensors(app, name_prefix="faust")
    return Worker(app=app, settings=settings, tables=tables, control_tables=control_tables)
