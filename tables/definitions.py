"""The Faust tables that hold the projections (changelog-backed, RocksDB via rocksdict)."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from factory_app.settings import Settings
from factory_app.topics import changelog_topic_configs
from tables import rocksdb_memory
from tables.batched import BatchedTable

ROCKSDICT = {"driver": "rocksdict"}


@dataclass
class StateTables:
    """The tables the telemetry-state processor maintains."""

    asset_state: faust.Table  # asset_id -> AssetState (tables.asset_state)
    tag_windows: faust.Table  # window_key / index_key -> Aggregate / [starts] (tables.windows)
    asset_mode: faust.Table | None = None  # asset_id -> AssetMode (tables.asset_mode), from operator actions

    def all(self) -> dict[str, faust.Table]:
        out = {"asset_state": self.asset_state, "tag_windows": self.tag_windows}
        if self.asset_mode is not None:
            out["asset_mode"] = self.asset_mode
        return out


def rocksdb_options(settings: Settings) -> dict:
    """The RocksDB store options of a table: rocksdict, and the worker's shared memory budget."""
    mib = 1024 * 1024
    worker = settings.worker
    return {**ROCKSDICT, "write_buffer_size": worker.rocksdb_write_buffer_mb * mib, "max_write_buffer_number": 2,
            rocksdb_memory.SHARED_CACHE: worker.rocksdb_block_cache_mb * mib,
            rocksdb_memory.SHARED_MEMTABLES: worker.rocksdb_memtables_mb * mib}


def projection_table(app: faust.App, settings: Settings, name: str, batched: bool = False) -> faust.Table:
    """A projection table: str keys, JSON values, RocksDB (rocksdict), a changelog partitioned like the sources.

    ``batched``: a ``BatchedTable`` (its folds write through ``stage``/``publish``, one batch per partition)."""
    options = dict(default=None, partitions=settings.kafka.partitions, key_type=str, options=rocksdb_options(settings),
                   extra_topic_configs=changelog_topic_configs(settings), help=f"projection {name}")
    if not batched:
        return app.Table(name, **options)
    return app.tables.add(BatchedTable(app, name=name, beacon=app.tables.beacon, **options))


def state_tables(app: faust.App, settings: Settings) -> StateTables:
    """Declare the state tables on ``app``."""
    batched = settings.worker.batched_tables
    return StateTables(asset_state=projection_table(app, settings, "asset_state", batched),
                       tag_windows=projection_table(app, settings, "tag_windows", batched),
                       asset_mode=projection_table(app, settings, "asset_mode", batched))
