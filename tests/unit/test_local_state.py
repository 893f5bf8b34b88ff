"""Local tables survive only an orderly stop; one worker per data directory."""

from __future__ import annotations

import pytest

from rocksdict import Rdict

from factory_app.local_state import (CLEAN_MARK, DataDirBusy, begin_run, end_run_in_order, lock_data_dir,
                                     unreadable_partitions)


def make_tables(data_dir, *names: str):
    """A tables directory with real (empty) RocksDB partition databases."""
    tables = data_dir / "v1" / "tables"
    tables.mkdir(parents=True)
    for name in names or ("asset_state-0.db",):
        Rdict(str(tables / name)).close()
    return tables


def test_a_partition_rocksdb_cannot_open_is_discarded_and_the_others_kept(tmp_path):
    tables = make_tables(tmp_path, "asset_state-0.db", "asset_state-1.db")
    for manifest in (tables / "asset_state-1.db").glob("MANIFEST-*"):
        manifest.write_bytes(b"not a manifest")
    end_run_in_order(tmp_path)
    assert list(unreadable_partitions(tables)) == [tables / "asset_state-1.db"]
    assert begin_run(tmp_path, tables) is True
    assert (tables / "asset_state-0.db").exists() and not (tables / "asset_state-1.db").exists()


def test_tables_of_a_run_that_died_are_discarded(tmp_path):
    tables = make_tables(tmp_path)
    assert begin_run(tmp_path, tables) is True
    assert not tables.exists()


def test_tables_of_an_orderly_run_are_kept_and_the_mark_is_taken_back(tmp_path):
    tables = make_tables(tmp_path)
    end_run_in_order(tmp_path)
    assert begin_run(tmp_path, tables) is False
    assert (tables / "asset_state-0.db").exists()
    assert not (tmp_path / CLEAN_MARK).exists()
    # The next start without a new mark (this run died) discards them.
    assert begin_run(tmp_path, tables) is True


def test_a_first_run_has_nothing_to_discard(tmp_path):
    assert begin_run(tmp_path, tmp_path / "v1" / "tables") is False


def test_a_held_data_directory_is_refused(tmp_path):
    held = lock_data_dir(tmp_path)
    try:
        # flock is per open file description: a second open in this process conflicts like another process.
        with pytest.raises(DataDirBusy, match="uses the data directory"):
            lock_data_dir(tmp_path)
    finally:
        held.close()
    lock_data_dir(tmp_path).close()
