"""A whole plant for integration tests: simulated PLCs, worker, ingest adapter, command writer.

Every part is a real process (``factory sim``, ``factory worker``, ``factory
adapter ...``) on loopback ports chosen free, with its own topics and group.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from asyncua import Client, ua

from factory_app.broker.node import free_port
from factory_app.children import Child, stop_together
from factory_app.config import PlantConfig, load_plant
from factory_app.settings import Settings
from factory_app.topics import create_source_topics

REPO = Path(__file__).resolve().parents[1]


# Tests run the plant at half the shipped simulated speed: a scheduling stall on a loaded
# 2-core CI machine then costs half as many simulated seconds of an open loop.
TEST_SIM_SPEED = 5


def plant_file(dest: Path, edit=None) -> Path:
    """A copy of config/plant.yaml with free endpoint ports (and an optional edit of the document)."""
    doc = yaml.safe_load((REPO / "config" / "plant.yaml").read_text())
    doc["sim"]["speed"] = TEST_SIM_SPEED
    for asset in doc["assets"]:
        asset["endpoint"] = re.sub(r":\d+/", f":{free_port()}/", asset["endpoint"])
    if edit is not None:
        edit(doc)
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


def only_assets(*asset_ids: str):
    """A ``plant_file`` edit keeping just these assets, and no rules."""
    def edit(doc) -> None:
        doc["assets"] = [a for a in doc["assets"] if a["id"] in asset_ids]
        doc["rules"] = []
    return edit


def make_settings(bootstrap: str, home: Path, edit=None, **overrides) -> Settings:
    """Settings of an isolated plant on ``bootstrap`` (its own topics, group and free ports);
    ``edit`` changes its plant file (e.g. ``only_assets(...)``); ``overrides`` are more flat
    settings (e.g. how to authenticate)."""
    tag = uuid.uuid4().hex[:8]
    settings = Settings(bootstrap=bootstrap, home=home, topic_prefix=f"p{tag}.", app_id=f"plant-{tag}",
                        web_port=free_port(), partitions=8,
                        plant_config=plant_file(home / "plant.yaml", edit), ingest_metrics_port=free_port(),
                        writer_metrics_port=free_port(), ui_port=free_port(), snapshots_metrics_port=free_port(), **overrides)
    asyncio.run(create_source_topics(settings))
    return settings


@dataclass
class Plant:
    settings: Settings
    config: PlantConfig
    children: dict[str, Child] = field(default_factory=dict)
    # A role's own settings (e.g. its own Kafka principal); the others run with ``settings``.
    role_settings: dict[str, Settings] = field(default_factory=dict)

    def start(self, *roles: str) -> None:
        args = {"sim": ["sim"], "worker": ["worker"], "ingest": ["adapter", "ingest"],
                "writer": ["adapter", "commands"], "ui": ["ui"]}
        for role in roles:
            settings = self.role_settings.get(role, self.settings)
            self.children[role] = Child(f"{role}-{len(self.children)}", args[role], self.settings.home / "logs",
                                        env=settings.to_env())

    def stop(self) -> None:
        stop_together(list(self.children.values()), timeout=15)


async def opc_read(plant: Plant, asset_id: str, tag: str):
    asset = plant.config.asset(asset_id)
    async with Client(asset.endpoint, timeout=4) as client:
        ns = await client.get_namespace_index(asset.namespace)
        return await client.get_node(ua.NodeId(f"{asset.object}.{tag}", ns)).read_value()


async def opc_write(plant: Plant, asset_id: str, tag: str, value: float) -> None:
    """Write a Double directly on the simulated PLC (an operator at the machine's own panel, or a
    test turning one of the simulator's knobs: ``sim_clock_offset_s``, ``sim_ack_delay_s``)."""
    asset = plant.config.asset(asset_id)
    async with Client(asset.endpoint, timeout=4) as client:
        ns = await client.get_namespace_index(asset.namespace)
        node = client.get_node(ua.NodeId(f"{asset.object}.{tag}", ns))
        await node.write_value(ua.DataValue(ua.Variant(value, ua.VariantType.Double)))


async def opc_call(plant: Plant, asset_id: str, method: str, *args: float):
    """Call a method directly on the simulated PLC (as a test's hand on the machine)."""
    asset = plant.config.asset(asset_id)
    async with Client(asset.endpoint, timeout=4) as client:
        ns = await client.get_namespace_index(asset.namespace)
        obj = client.get_node(ua.NodeId(asset.object, ns))
        return await obj.call_method(ua.NodeId(f"{asset.object}.{method}", ns),
                                     *(ua.Variant(a, ua.VariantType.Double) for a in args))


def plc_ready(plant: Plant, asset_id: str) -> bool:
    """True once the simulated PLC of ``asset_id`` answers an OPC UA read of one of its tags."""
    try:
        asyncio.run(opc_read(plant, asset_id, "sim_write_count"))
        return True
    except Exception:
        return False


def wait_plcs_ready(plant: Plant, timeout: float = 180) -> None:
    """Wait until every simulated PLC of the plant answers (each asyncua server takes seconds to start)."""
    from factory_app.children import wait_until

    for asset in plant.config.assets:
        wait_until(lambda: plc_ready(plant, asset.id), timeout, what=f"simulated PLC {asset.id} answering")


def write_count(plant: Plant, asset_id: str) -> int:
    """How many client writes the simulated PLC of ``asset_id`` has received."""
    return asyncio.run(opc_read(plant, asset_id, "sim_write_count"))


def writer_and_plc(settings: Settings, asset_id: str) -> Plant:
    """A plant of the command writer and the simulated PLCs only, both ready (commands are the
    test's to append); the caller stops it."""
    from factory_app.children import wait_until
    from harness.helpers import log_text

    plant = Plant(settings, load_plant(settings.plant_config))
    try:
        plant.start("sim", "writer")
        wait_until(lambda: plc_ready(plant, asset_id), 120, what=f"{asset_id}'s PLC answering")
        wait_until(lambda: "command writer ready" in log_text(plant.children["writer"]), 120,
                   what="the command writer ready")
    except BaseException:
        plant.stop()
        raise
    return plant
