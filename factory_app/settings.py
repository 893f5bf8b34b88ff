"""Runtime settings, read from the environment (prefix ``FACTORY_``) on demand, grouped by concern.

``settings.kafka`` (where the log is, how the project's topics are laid out),
``settings.worker`` (the stream processors and the folds they run, live or in replay),
``settings.web`` (what processes serve over HTTP), ``settings.adapters`` (the command
writer's limits); ``home`` and ``plant_config`` are everyone's. The development broker's
settings are not here: ``factory_app/broker/settings.py``.

Environment variables stay flat and unique (``FACTORY_BOOTSTRAP``, ``FACTORY_WEB_PORT``...):
``ENV_NAMES`` maps each to its group. ``Settings(**flat)`` and ``updated(flat)`` take the
same names, so a test or a child process is configured exactly as an operator would.
Nothing is read at import time: callers build a ``Settings`` when they start, so tests can
run several differently configured apps in one process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from factory_app.events import SOURCE_TOPICS as _SOURCE_TOPIC_NAMES

ENV_PREFIX = "FACTORY_"


def servers(bootstrap: str) -> list[str]:
    """``host:port`` entries of a comma-separated bootstrap string (the one place it is split)."""
    return [s.strip() for s in bootstrap.split(",") if s.strip()]


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSettings(_Group):
    """Where the log is and how the project's topics are laid out."""

    # Loopback addresses run the project's own local cluster (one node per address);
    # anything else is an external cluster the local tooling leaves alone.
    bootstrap: str = "127.0.0.1:19092"
    # Topic names; a prefix lets several plants share one cluster.
    topic_prefix: str = "factory."
    partitions: int = Field(default=8, ge=1)
    # Replicas per topic partition (default: 3 when the bootstrap lists 3+ brokers, else their number).
    replication_factor: int | None = Field(default=None, ge=1)
    # Extra configs for the tables' changelog topics (JSON in FACTORY_CHANGELOG_CONFIGS).
    changelog_configs: dict[str, str] = Field(default_factory=dict)
    # How every client reaches the brokers (factory_app/kafka_security.py). TLS: the CA that
    # signed the brokers' certificates, and a client key pair for mutual TLS. SASL: the
    # principal and its password, from FACTORY_SASL_PASSWORD or a file (read at each
    # connection, so a rotated password is picked up by the next client); never the plant file.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None

    @property
    def hosts(self) -> list[str]:
        return servers(self.bootstrap)

    @property
    def replication(self) -> int:
        """Replication factor of the project's topics."""
        return self.replication_factor or min(3, len(self.hosts))


class WorkerSettings(_Group):
    """The stream processors, and the folds they run live and in replays."""

    # The consumer group and the changelog topics' prefix.
    app_id: str = "factory"
    # Processors this worker runs (FACTORY_PROCESSORS='["availability"]' for an analytic-only worker).
    # None: the processors declared to run by default (agents/registry.py).
    processors: list[str] | None = None
    # False in replays and backfills: the control rules run but their commands go nowhere.
    emit_commands: bool = True
    # Faust's processing guarantee; see docs/fault-tolerance.md for why at-least-once is the only one.
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    # How long the group waits for a silent worker before moving its partitions (Faust's default is 60 s).
    # Below 6 s the broker must allow it (group.min.session.timeout.ms; the embedded broker allows 1 s).
    session_timeout: float = Field(default=10.0, ge=1.0)
    # The runtime folds a partition's records in chunks of at most this many (1 = event by event).
    state_batch_max: int = Field(default=500, ge=1)
    # The longest the broker holds a worker's fetch that finds nothing new (Faust fixes 1,500 ms,
    # which delayed telemetry behind polls of quiet topics: factory_app/partition_batches.py).
    fetch_max_wait_ms: int = Field(default=20, ge=1, le=1500)
    # State tables take a partition's batch as one RocksDB write batch and one run of changelog
    # sends (tables/batched.py); False: Faust's per-key writes (kept to measure the difference).
    batched_tables: bool = True
    # Largest batch per partition the worker's producer builds (Faust's default is 16 KiB).
    producer_batch_bytes: int = Field(default=512 * 1024, ge=1024)
    # Static group membership: a worker restarted with the same id takes its partitions back
    # at once instead of after the session timeout. Unique per worker (e.g. its host name).
    instance_id: str | None = None
    # A worker not heard from for this long is evicted from the group by its peers, so its partitions
    # move at once (factory_app/liveness.py; 0: off, only the session timeout notices a death).
    # Opt-in: at 1 s, beside a CPU hog, live workers were evicted too (docs/fault-tolerance.md).
    liveness_timeout: float = Field(default=0.0, ge=0)
    # How often a worker says it is alive (from a thread of its own: a busy event loop is not death).
    liveness_interval: float = Field(default=0.2, gt=0)
    # Warm copies of each table partition on other workers (0: a moved partition restores from its
    # changelog first; docs/fault-tolerance.md, "Failover"). Opt-in: with 1, CI saw Faust's
    # standby recovery crash a worker under kills and a two-worker backfill never resume.
    standby_replicas: int = Field(default=0, ge=0)
    # A worker's own RocksDB directory (default: HOME/worker-data/APP_ID).
    worker_data: Path | None = None
    # Tumbling window size for the per-tag aggregates, in event-time seconds.
    window_seconds: float = Field(default=10.0, gt=0)
    # How many closed windows per (asset, tag) the projection keeps.
    window_retention: int = Field(default=60, ge=1)
    # Event-time periods of the OEE-per-period analytic (``kpi-periods``): width, how many per asset.
    kpi_period_seconds: float = Field(default=3600.0, gt=0)
    kpi_periods: int = Field(default=48, ge=1)
    # How far (seconds) an event's own time may run ahead of its record's log time before it is
    # dead-lettered as ``clock_skew`` (a PLC clock set in the future must not occupy the windows).
    max_clock_ahead: float = Field(default=60.0, ge=0)
    # Memory of the worker's RocksDB databases (one per table partition it holds: tables x
    # partitions). All of them share one block cache (MiB) and one memtable budget (MiB, charged
    # to that cache), whatever their count (tables/rocksdb_memory.py); each database's memtable
    # is at most ``rocksdb_write_buffer_mb`` (two of them). Faust's defaults (a 2 GiB cache and
    # 64 MiB x 3 buffers per database) and then a 16 MiB cache per database let a soaked
    # worker's memory climb for an hour (docs/fault-tolerance.md). Raise them for tables much
    # larger than a plant's state.
    rocksdb_write_buffer_mb: int = Field(default=4, ge=1)
    rocksdb_block_cache_mb: int = Field(default=64, ge=1)
    rocksdb_memtables_mb: int = Field(default=32, ge=1)
    # A proposed plant file whose rules run live in shadow beside the active ones (the ``shadow``
    # processor): their commands go to the commands-shadow topic, never to the writer, and
    # each decision is compared with the active rules' (``factory whatif --live``, metrics).
    shadow_plant: Path | None = None
    # How many recent event ids each asset remembers to recognise a duplicate (same event_id).
    dedup_horizon: int = Field(default=32, ge=0)  # ids ride in every asset_state write: kept small
    # Snapshots of the folds (``factory snapshots build``, factory_app/snapshots): a point per
    # partition every this many telemetry records or this many seconds of event time, whichever
    # comes first. A bounded read (state-at, time travel) folds at most about one interval.
    snapshot_every_events: int = Field(default=5_000, ge=1)  # 10,000 measured 1.0-1.25 s near the end (docs/benchmarks.md)
    snapshot_every_seconds: float = Field(default=600.0, gt=0)
    # Thinning: every point of the newest this many seconds of event time is kept; older ones,
    # one per this many seconds (the newest of each), their late-event ledgers merged. At plant
    # rates the points otherwise grow by the interval forever; a thinned span answers exactly,
    # from an older point (a read of up to one thinned interval).
    snapshot_keep_all_seconds: float = Field(default=86_400.0, ge=0)
    snapshot_thin_to_seconds: float = Field(default=3_600.0, gt=0)
    # How far (seconds) an event may trail the youngest event before it in its partition and
    # still count as on time. A bounded read for instant T stops once the partition has carried
    # an event of T + this; the events behind by more (store-and-forward, a PLC's buffer, a slow
    # asset beside fast ones) are listed by the snapshots as late and read by offset.
    history_lateness: float = Field(default=30.0, ge=0)
    # The following builder's CPU niceness (``snapshots build --follow``): it takes what the workers
    # leave (on 2 cores at its own priority it cost the worker 22-48 % of its rate; bench/history.py).
    snapshot_nice: int = Field(default=10, ge=0, le=19)
    # Where snapshots live (default: HOME/snapshots/APP_ID). Derived and disposable, like the tables.
    snapshot_dir: Path | None = None


class WebSettings(_Group):
    """What the processes serve over HTTP: the worker's web server, the adapters' metrics."""

    port: int = 6066  # FACTORY_WEB_PORT
    host: str = "127.0.0.1"  # FACTORY_WEB_HOST
    metrics_host: str = "127.0.0.1"  # the adapters' and replays' metrics pages; 0.0.0.0 in containers
    # Prometheus ports of the adapters (0 disables the endpoint).
    ingest_metrics_port: int = 9101
    writer_metrics_port: int = 9102
    snapshots_metrics_port: int = 9104  # ``factory snapshots build --follow`` (9103 is the mirror's)
    # The plant view (``factory ui``): where it listens (loopback unless said otherwise: it
    # serves the plant to anyone who reaches it), which workers it asks (default: the local
    # one; it finds the group's others through /cluster/), how often it asks them (seconds),
    # and the operators' token file (default HOME/operator-tokens; ``factory operator-token``).
    ui_port: int = 6080
    ui_host: str = "127.0.0.1"
    ui_workers: list[str] | None = None
    ui_refresh: float = Field(default=0.25, gt=0)
    ui_tokens_file: Path | None = None
    # Host names (host or host:port) the view answers besides its own address and loopback's: a
    # request naming another (DNS rebinding: a foreign page resolved to this address) is refused.
    ui_allowed_hosts: list[str] = []
    # TLS for the view (PEM certificate chain and key): bearer tokens cross the network only so.
    ui_tls_cert: Path | None = None
    ui_tls_key: Path | None = None


class AdapterSettings(_Group):
    """The command writer's limits (the plant file holds the per-asset ones)."""

    # The command writer never acts on a command later than this many seconds after it received
    # it, whatever the command's own deadline says (a deadline of 1e300 is not "forever").
    max_command_deadline: float = Field(default=60.0, gt=0)
    # Least time between two actuations of one asset by the command writer (a rate limit per
    # asset; the interlocks' stops are never held back by it).
    command_min_interval: float = Field(default=0.05, ge=0)


GROUPS: dict[str, type[_Group]] = {"kafka": KafkaSettings, "worker": WorkerSettings, "web": WebSettings,
                                   "adapters": AdapterSettings}
_RENAMED = {("web", "port"): "web_port", ("web", "host"): "web_host"}
# Flat name (FACTORY_ + upper case in the environment) -> (group, field).
ENV_NAMES: dict[str, tuple[str, str]] = {
    _RENAMED.get((group, field), field): (group, field) for group, model in GROUPS.items() for field in model.model_fields
}


def _nested(data: dict[str, Any]) -> dict[str, Any]:
    """Flat names routed into their groups, over what the groups already hold; other keys kept."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ENV_NAMES:
            continue
        if key in GROUPS:
            value = value.model_dump() if isinstance(value, BaseModel) else dict(value)
        out[key] = value
    for key, value in data.items():
        if key in ENV_NAMES:
            group, field = ENV_NAMES[key]
            out.setdefault(group, {})[field] = value
    return out


class _FlatEnvironment(PydanticBaseSettingsSource):
    """The grouped fields from their flat FACTORY_* variables (JSON for lists and dicts)."""

    def get_field_value(self, field, field_name):  # required by the base class; __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for flat, (group, field) in ENV_NAMES.items():
            raw = os.environ.get(ENV_PREFIX + flat.upper())
            if raw is None:
                continue
            annotation = GROUPS[group].model_fields[field].annotation
            complex_ = get_origin(annotation) in (list, dict) or any(
                get_origin(a) in (list, dict) for a in getattr(annotation, "__args__", ()))
            values.setdefault(group, {})[field] = json.loads(raw) if complex_ else raw
        return values


class Settings(BaseSettings):
    """Everything a worker, adapter or CLI command needs to find its peers."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # Where the project keeps its local broker, RocksDB state and logs.
    home: Path = Field(default=Path(".factory"))
    # Config file of the plant (assets, tags, rules).
    plant_config: Path = Field(default=Path("config/plant.yaml"))
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    adapters: AdapterSettings = Field(default_factory=AdapterSettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return init_settings, env_settings, _FlatEnvironment(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _route_flat_names(cls, data: Any) -> Any:
        # Flat names (given to the constructor) win over the groups' values from the environment.
        return _nested(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _own_topics_apart_from_the_log(self) -> "Settings":
        # The worker's principal may do anything on topics named "APP_ID-..." (its changelogs):
        # were a source topic named so, a worker could append command results (the writer would
        # then skip real commands) or delete the log. Refused here, so every role refuses to start.
        own = f"{self.worker.app_id}-"
        covered = [self.topic(name) for name in _SOURCE_TOPIC_NAMES if self.topic(name).startswith(own)]
        if covered:
            raise ValueError(
                f"topic_prefix {self.kafka.topic_prefix!r} (FACTORY_TOPIC_PREFIX) puts the source topics inside "
                f"the worker's own topic prefix {own!r} (from app_id {self.worker.app_id!r}, FACTORY_APP_ID): "
                f"{', '.join(covered)} would be the worker's to write and delete; choose a topic prefix that "
                f"does not start with {own!r}")
        return self

    def updated(self, flat: dict[str, Any]) -> "Settings":
        """A copy with the flat-named ``flat`` settings changed (validated, environment not re-read)."""
        return type(self).model_validate(_nested({**self.model_dump(), **flat}))

    def to_env(self) -> dict[str, str]:
        """The FACTORY_* environment that makes a child process use these settings."""
        env = {}
        top = {"home": self.home, "plant_config": self.plant_config}
        grouped = {flat: getattr(getattr(self, group), field) for flat, (group, field) in ENV_NAMES.items()}
        for name, value in {**top, **grouped}.items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[ENV_PREFIX + name.upper()] = (json.dumps(value) if isinstance(value, (dict, list, bool))
                                              else str(value))
        return env

    def topic(self, name: str) -> str:
        """Full topic name for a logical topic (``telemetry``, ``commands``...)."""
        return f"{self.kafka.topic_prefix}{name}"

    @property
    def data_dir(self) -> Path:
        """Faust's data directory (RocksDB tables live under it): one per app id, so a deployment
        with another FACTORY_APP_ID on the same home never opens this one's tables."""
        return self.worker.worker_data or self.home / "worker-data" / self.worker.app_id

    @property
    def snapshots_dir(self) -> Path:
        """The folds' snapshots (factory_app/snapshots), one directory per app id like ``data_dir``."""
        return self.worker.snapshot_dir or self.home / "snapshots" / self.worker.app_id
