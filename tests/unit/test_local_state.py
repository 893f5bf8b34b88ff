"""Local tables survive only an orderly stop; one worker per data directory."""

from __future__ import annotations

import pytest

from factory_app.local_state import CLEAN_MARK, DataDirBusy, begin_run, end_run_in_order, lock_data_dir


def make_tables(data_dir):
    tables = data_dir / "v1" / "tables"
    (tables / "asset_state-0.db").mkdir(parents=True)
    return tables


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
