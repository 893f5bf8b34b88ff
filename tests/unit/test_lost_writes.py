"""kill -9 can lose any suffix of a worker's changelog writes since its last commit.

The folds must still end equal to a single pass over the log, whether each
event writes its keys directly or a batch writes them at once (WriteBehind).
"""

import random
from types import SimpleNamespace

import pytest

from agents.telemetry_state import apply_to_tables
from factory_app import events
from tables.write_behind import WriteBehind


class LoggedTable(dict):
    """A dict that appends every write to a shared changelog, as a Faust table does."""

    def __init__(self, name, changelog):
        super().__init__()
        self.name, self.changelog = name, changelog

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.changelog.append((self.name, key, value))

    def __delitem__(self, key):
        super().__delitem__(key)
        self.changelog.append((self.name, key, None))


def restored(changelog):
    tables = SimpleNamespace(asset_state={}, tag_windows={})
    for name, key, value in changelog:
        table = getattr(tables, name)
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return tables


def telemetry(n, seed):
    rng = random.Random(seed)
    return [(i, events.Telemetry(event_id=f"e{i}", asset_id=rng.choice(["a", "b"]), event_time=1000 + i * 0.3,
                                 tag=rng.choice(["t", "p"]), value=float(rng.randrange(100))))
            for i in range(n)]


def fold_once(log):
    t = SimpleNamespace(asset_state={}, tag_windows={})
    for offset, ev in log:
        apply_to_tables(t, ev, 5.0, 4, "t", offset)
    return t


def fold_with_crashes(log, batch: int, seed: int):
    """Fold in batches, committing every 3 batches; crash at random, keeping a random part
    of the changelog written since the last commit, restore from it and go on from the commit."""
    rng = random.Random(seed)
    changelog: list = []
    committed_pos, committed_len = 0, 0
    pos = 0
    tables = SimpleNamespace(asset_state=LoggedTable("asset_state", changelog),
                             tag_windows=LoggedTable("tag_windows", changelog))
    batches = 0
    while pos < len(log):
        chunk = log[pos:pos + batch]
        if batch == 1:
            view = tables
        else:
            view = SimpleNamespace(asset_state=WriteBehind(tables.asset_state),
                                   tag_windows=WriteBehind(tables.tag_windows))
        for offset, ev in chunk:
            apply_to_tables(view, ev, 5.0, 4, "t", offset)
        if batch != 1:
            view.asset_state.flush()
            view.tag_windows.flush()
        pos += len(chunk)
        batches += 1
        if batches % 3 == 0:
            committed_pos, committed_len = pos, len(changelog)
        elif rng.random() < 0.3:  # kill -9: keep the committed writes and a random part of the rest
            keep = rng.randint(committed_len, len(changelog))
            del changelog[keep:]
            back = restored(changelog)
            tables.asset_state.clear()
            tables.asset_state.update(back.asset_state)
            tables.tag_windows.clear()
            tables.tag_windows.update(back.tag_windows)
            pos = committed_pos
    final = restored(changelog)
    return final


@pytest.mark.parametrize("batch", [1, 7, 50])
@pytest.mark.parametrize("seed", range(12))
def test_any_lost_suffix_of_changelog_writes_is_repaired_by_redelivery(batch, seed):
    log = telemetry(400, seed)
    want = fold_once(log)
    got = fold_with_crashes(log, batch, seed)
    assert got.asset_state == want.asset_state
    assert got.tag_windows == want.tag_windows


def test_write_behind_reads_its_own_writes_and_writes_each_key_once():
    changelog: list = []
    table = LoggedTable("asset_state", changelog)
    table["x"] = 1
    changelog.clear()
    view = WriteBehind(table)
    assert view.get("x") == 1 and view.get("missing", "d") == "d"
    view["x"] = 2
    view["x"] = 3
    view["y"] = 4
    del view["y"]
    assert view.get("x") == 3 and view.get("y") is None and table["x"] == 1
    assert view.flush() == 2
    assert changelog == [("asset_state", "x", 3)] and "y" not in table
