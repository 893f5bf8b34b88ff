"""The tables' RocksDB memory bounds reach Faust's store; by default they are bounded, not Faust's."""

from factory_app.app import create_app
from factory_app.settings import Settings


def store_options(tmp_path, **flat):
    worker = create_app(Settings(home=tmp_path, **flat), prometheus=False)
    return {name: table.data.rocksdb_options for name, table in worker.tables.items()}


def test_bounds_reach_every_tables_store(tmp_path):
    for name, opts in store_options(tmp_path, rocksdb_write_buffer_mb=8, rocksdb_block_cache_mb=32).items():
        assert (opts.write_buffer_size, opts.max_write_buffer_number, opts.block_cache_size) == \
               (8 * 2**20, 2, 32 * 2**20), name


def test_the_defaults_are_bounded_not_fausts(tmp_path):
    # Faust's 64 MiB x 3 buffers and 2 GiB cache per database grew a soaked worker for an hour.
    for name, opts in store_options(tmp_path).items():
        assert (opts.write_buffer_size, opts.max_write_buffer_number, opts.block_cache_size) == \
               (4 * 2**20, 2, 16 * 2**20), name
