"""The tables' RocksDB memory bounds reach Faust's store (or Faust's defaults stay when unset)."""

from factory_app.app import create_app
from factory_app.settings import Settings


def store_options(tmp_path, **flat):
    worker = create_app(Settings(home=tmp_path, **flat), prometheus=False)
    return {name: table.data.rocksdb_options for name, table in worker.tables.items()}


def test_bounds_reach_every_tables_store(tmp_path):
    for name, opts in store_options(tmp_path, rocksdb_write_buffer_mb=4, rocksdb_block_cache_mb=16).items():
        assert (opts.write_buffer_size, opts.max_write_buffer_number, opts.block_cache_size) == \
               (4 * 2**20, 2, 16 * 2**20), name


def test_unset_bounds_leave_fausts_defaults(tmp_path):
    opts = store_options(tmp_path)["asset_state"]
    assert (opts.write_buffer_size, opts.block_cache_size) == (64 * 2**20, 2 * 2**30)
