"""Runtime settings, read from the environment (prefix ``FACTORY_``) on demand.

Nothing here is read at import time: callers build a ``Settings`` when they
start, so tests can run several differently configured apps in one process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from factory_app.broker.versions import DEFAULT_KAFKA_VERSION


class Settings(BaseSettings):
    """Everything a worker, adapter or CLI command needs to find its peers."""

    model_config = SettingsConfigDict(env_prefix="FACTORY_", extra="ignore")

    # Where the project keeps its local broker, RocksDB state and logs.
    home: Path = Field(default=Path(".factory"))
    # Loopback addresses run the project's own local cluster (one node per address);
    # anything else is an external cluster the local tooling leaves alone.
    bootstrap: str = "127.0.0.1:19092"
    kafka_version: str = DEFAULT_KAFKA_VERSION
    # The local single broker's KRaft controller port (default: broker port + 1; always so with several nodes).
    controller_port: int | None = None
    app_id: str = "factory"
    partitions: int = Field(default=8, ge=1)
    # Replicas per topic partition (default: 3 when the bootstrap lists 3+ brokers, else their number).
    replication_factor: int | None = Field(default=None, ge=1)
    # Tumbling window size for the per-tag aggregates, in event-time seconds.
    window_seconds: float = Field(default=10.0, gt=0)
    # How many closed windows per (asset, tag) the projection keeps.
    window_retention: int = Field(default=60, ge=1)
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    # Topic names; a prefix lets several plants share one cluster.
    topic_prefix: str = "factory."
    # Prometheus ports of the adapters (0 disables the endpoint).
    ingest_metrics_port: int = 9101
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 in containers
    writer_metrics_port: int = 9102
    # Config file of the plant (assets, tags, rules).
    plant_config: Path = Field(default=Path("config/plant.yaml"))
    # Processors this worker runs (FACTORY_PROCESSORS='["availability"]' for an analytic-only worker).
    # None: the processors declared to run by default (agents/registry.py).
    processors: list[str] | None = None
    # False in replays and backfills: the control rules run but their commands go nowhere.
    emit_commands: bool = True
    # Extra configs for the tables' changelog topics (JSON in FACTORY_CHANGELOG_CONFIGS).
    changelog_configs: dict[str, str] = Field(default_factory=dict)
    # Where the broker jars are cached (default: HOME).
    kafka_jars: Path | None = None
    # Faust's processing guarantee; see docs/fault-tolerance.md for why at-least-once is the default.
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    # How long the group waits for a silent worker before moving its partitions (Faust's default is 60 s).
    session_timeout: float = Field(default=10.0, ge=6.0)
    # The runtime folds a partition's records in chunks of at most this many (1 = event by event).
    state_batch_max: int = Field(default=500, ge=1)
    # The longest the broker holds a worker's fetch that finds nothing new (Faust fixes 1,500 ms,
    # which delayed telemetry behind polls of quiet topics: factory_app/partition_batches.py).
    fetch_max_wait_ms: int = Field(default=20, ge=1, le=1500)
    # State tables take a partition's batch as one RocksDB write batch and one run of changelog
    # sends (tables/batched.py); False: Faust's per-key writes (kept to measure the difference).
    batched_tables: bool = True
    # The command writer never acts on a command later than this many seconds after it received
    # it, whatever the command's own deadline says (a deadline of 1e300 is not "forever").
    max_command_deadline: float = Field(default=60.0, gt=0)
    # Least time between two actuations of one asset by the command writer (a rate limit per
    # asset; the interlocks' stops are never held back by it).
    command_min_interval: float = Field(default=0.05, ge=0)
    # How far (seconds) an event's own time may run ahead of its record's log time before it is
    # dead-lettered as ``clock_skew`` (a PLC clock set in the future must not occupy the windows).
    max_clock_ahead: float = Field(default=60.0, ge=0)
    # How many recent event ids each asset remembers to recognise a duplicate (same event_id).
    dedup_horizon: int = Field(default=32, ge=0)  # ids ride in every asset_state write: kept small
    # Largest batch per partition the worker's producer builds (Faust's default is 16 KiB).
    producer_batch_bytes: int = Field(default=512 * 1024, ge=1024)
    # Static group membership: a worker restarted with the same id takes its partitions back
    # at once instead of after the session timeout. Unique per worker (e.g. its host name).
    instance_id: str | None = None
    # Warm copies of each table partition on other workers (0: a moved partition restores from its changelog).
    standby_replicas: int = Field(default=0, ge=0)
    # A worker's own RocksDB directory (default: HOME/worker-data/APP_ID).
    worker_data: Path | None = None

    @property
    def bootstrap_hosts(self) -> list[str]:
        from factory_app.kafka_clients import servers

        return servers(self.bootstrap)

    @property
    def replication(self) -> int:
        """Replication factor of the project's topics."""
        return self.replication_factor or min(3, len(self.bootstrap_hosts))

    def topic(self, name: str) -> str:
        """Full topic name for a logical topic (``telemetry``, ``commands``...)."""
        return f"{self.topic_prefix}{name}"

    @property
    def data_dir(self) -> Path:
        """Faust's data directory (RocksDB tables live under it): one per app id, so a deployment
        with another FACTORY_APP_ID on the same home never opens this one's tables."""
        return self.worker_data or self.home / "worker-data" / self.app_id
