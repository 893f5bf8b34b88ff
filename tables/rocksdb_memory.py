"""One memory budget for all of a worker's RocksDB databases.

A worker opens one database per table partition it holds (tables x partitions: 40 on the
local plant). Faust's store gives each its own block cache, so the worker's ceiling is that
count times the cache size, reached slowly as the data grows: a soaked worker kept growing
for an hour. Here every database of the process shares one block cache, and one write
buffer manager bounds all their memtables together; their memory is then two numbers
(``FACTORY_ROCKSDB_BLOCK_CACHE_MB``, ``FACTORY_ROCKSDB_MEMTABLES_MB``) whatever the count.

The worker app's store URL ``rocksdb-shared://`` names it (the ``faust.stores`` entry point
in pyproject.toml). A table cannot name it itself: Faust takes an empty store URL (no host,
no path) for none and uses the app's.
"""

from __future__ import annotations

import threading
from typing import Any

import rocksdict
from faust.stores import rocksdb as faust_rocksdb

# The store URL of a table on the shared budget (the scheme is the entry point's name).
STORE_URL = "rocksdb-shared://"
# Keys of a table's store options read here (Faust's RocksDBOptions keeps unknown keys aside).
SHARED_CACHE = "shared_block_cache_size"
SHARED_MEMTABLES = "shared_memtables_size"

_lock = threading.Lock()
_budgets: dict[tuple[int, int], tuple[rocksdict.Cache, rocksdict.WriteBufferManager]] = {}


def shared_budget(cache_bytes: int, memtable_bytes: int) -> tuple[rocksdict.Cache, rocksdict.WriteBufferManager]:
    """The process's block cache and write buffer manager for these sizes (made once).

    Memtables are charged to the cache as well (RocksDB's "cost memtables to block cache"),
    so the two together stay near ``cache_bytes``; writers are never stalled (a stalled
    write would hold the event loop), RocksDB flushes earlier instead."""
    key = (cache_bytes, memtable_bytes)
    with _lock:
        if key not in _budgets:
            cache = rocksdict.Cache(cache_bytes)
            manager = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(memtable_bytes, False, cache)
            _budgets[key] = (cache, manager)
        return _budgets[key]


class SharedBudgetOptions(faust_rocksdb.RocksDBOptions):
    """Faust's RocksDB options, but the block cache and memtable budget are the process's."""

    def as_options(self) -> rocksdict.Options:
        if not self.use_rocksdict:
            raise RuntimeError("the shared RocksDB budget needs the rocksdict driver")
        cache, manager = shared_budget(self.extra_options[SHARED_CACHE], self.extra_options[SHARED_MEMTABLES])
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_write_buffer_manager(manager)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(cache)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        # Index and filter blocks live in the cache too, so they count against the budget
        # instead of growing beside it with every new SST file.
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        options.set_block_based_table_factory(table)
        return options


class SharedBudgetStore(faust_rocksdb.Store):
    """Faust's RocksDB store whose databases draw on the process's shared budget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        own = self.rocksdb_options
        if SHARED_CACHE not in own.extra_options or SHARED_MEMTABLES not in own.extra_options:
            raise ValueError(f"the rocksdb-shared store needs the options {SHARED_CACHE} and {SHARED_MEMTABLES}")
        shared = SharedBudgetOptions(use_rocksdict=own.use_rocksdict, ttl=own.ttl, **own.extra_options)
        for name in ("max_open_files", "write_buffer_size", "max_write_buffer_number", "target_file_size_base",
                     "block_cache_size", "bloom_filter_size"):
            setattr(shared, name, getattr(own, name))
        self.rocksdb_options = shared

