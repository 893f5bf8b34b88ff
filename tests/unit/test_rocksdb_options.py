"""The tables' RocksDB memory: every table partition database of a worker draws on one budget."""

import pytest
import rocksdict

from factory_app.app import create_app
from factory_app.settings import Settings
from tables import rocksdb_memory
from tables.rocksdb_memory import SharedBudgetOptions, SharedBudgetStore


def stores(tmp_path, **flat):
    worker = create_app(Settings(home=tmp_path, **flat), prometheus=False)
    return {name: table.data for name, table in worker.tables.items()}


def test_every_table_uses_the_shared_budget_store(tmp_path):
    found = stores(tmp_path, rocksdb_write_buffer_mb=8, rocksdb_block_cache_mb=48, rocksdb_memtables_mb=24)
    assert found
    for name, store in found.items():
        assert isinstance(store, SharedBudgetStore), name
        opts = store.rocksdb_options
        assert isinstance(opts, SharedBudgetOptions), name
        assert (opts.write_buffer_size, opts.max_write_buffer_number) == (8 * 2**20, 2), name
        assert (opts.extra_options[rocksdb_memory.SHARED_CACHE], opts.extra_options[rocksdb_memory.SHARED_MEMTABLES]) \
            == (48 * 2**20, 24 * 2**20), name


def test_databases_share_one_cache_and_one_memtable_budget(tmp_path):
    # A per-database cache (Faust's) made the worker's ceiling tables x partitions x cache size.
    opts = SharedBudgetOptions(use_rocksdict=True, **{rocksdb_memory.SHARED_CACHE: 8 * 2**20,
                                                      rocksdb_memory.SHARED_MEMTABLES: 4 * 2**20})
    cache, manager = rocksdb_memory.shared_budget(8 * 2**20, 4 * 2**20)
    assert manager.get_buffer_size() == 4 * 2**20
    dbs = [opts.open(tmp_path / f"db{i}") for i in range(3)]
    try:
        before = manager.get_usage()
        for i, db in enumerate(dbs):
            for k in range(2000):
                db[f"k{k}".encode()] = bytes(200)
        # Memtables of all three databases are counted by the one manager.
        assert manager.get_usage() > before
        assert rocksdb_memory.shared_budget(8 * 2**20, 4 * 2**20)[0] is cache
        # Reading back through flushed files fills the one cache, never past its capacity.
        for db in dbs:
            db.flush()
            for k in range(2000):
                assert db[f"k{k}".encode()] == bytes(200)
        assert 0 < cache.get_usage() <= 8 * 2**20
    finally:
        for db in dbs:
            db.close()


def test_a_store_without_the_budget_is_refused(tmp_path):
    worker = create_app(Settings(home=tmp_path), prometheus=False)
    table = next(iter(worker.tables.values()))
    with pytest.raises(ValueError, match="shared_block_cache_size"):
        SharedBudgetStore("rocksdb-shared://", worker.app, table, options={"driver": "rocksdict"})
    assert rocksdict.Cache  # the binding the budget is made of

