"""Poison isolation and duplicate detection in the state fold (pure, on plain dicts)."""

import random
from types import SimpleNamespace

import msgspec
import pytest

from agents.isolation import fold_isolating
from agents.telemetry_state import apply_to_tables, fold_batch
from factory_app import events
from factory_app.settings import Settings
from tests.unit.test_idempotence import fold_with_redelivery, telemetry_log

SETTINGS = Settings(window_seconds=10.0, window_retention=5, dedup_horizon=16)


class RefusingStore(dict):
    """A table whose store refuses one key's writes (as a store refuses a value it cannot hold)."""

    def __init__(self, refuse: str):
        super().__init__()
        self.refuse = refuse

    def __setitem__(self, key, value):
        if key == self.refuse:
            raise ValueError(f"store refuses {key}")
        super().__setitem__(key, value)


def tele(i: int, asset: str, event_id: str | None = None) -> events.Telemetry:
    return events.Telemetry(event_id=event_id or f"e{i}", asset_id=asset, event_time=100.0 + i, tag="t", value=float(i))


def test_a_poison_event_fails_alone_and_every_other_event_is_applied_once():
    batch = [(tele(i, "a" if i != 7 else "poison"), i) for i in range(20)]
    tables = SimpleNamespace(asset_state=RefusingStore("poison"), tag_windows={})
    failed = fold_isolating(lambda items: fold_batch(tables, items, SETTINGS), batch)
    assert [item for item, _ in failed] == [batch[7]]
    assert tables.asset_state["a"]["events"] == 19
    assert "poison" not in tables.asset_state
    # The windows of the poison event were not written either: its fold is all or nothing.
    assert not any(k.startswith("poison|") for k in tables.tag_windows)
    assert sum(w["count"] for k, w in tables.tag_windows.items() if not k.endswith("|index")) == 19


def test_an_unserializable_value_fails_before_anything_is_written():
    tables = SimpleNamespace(asset_state={}, tag_windows={})

    def fold(items):
        fold_batch(tables, items, SETTINGS)

    # The poison of 1081d30 (an integer beyond 64 bits), smuggled past the contract as a fold bug would.
    bad = tele(1, "a")
    msgspec.structs.force_setattr(bad, "value", 2**70)
    failed = fold_isolating(fold, [(bad, 0), (tele(2, "b"), 1)])
    assert len(failed) == 1 and failed[0][0][0] is bad
    assert "a" not in tables.asset_state and tables.asset_state["b"]["events"] == 1


def test_a_batch_that_fails_as_a_whole_is_retried_item_by_item():
    calls = []

    def fold(items):
        calls.append(len(items))
        if any(i == 3 for i in items):
            raise RuntimeError("poison")

    failed = fold_isolating(fold, [1, 2, 3, 4])
    assert calls == [4, 1, 1, 1, 1] and [i for i, _ in failed] == [3]
    assert fold_isolating(fold, []) == []


def test_a_duplicate_event_id_is_folded_once_within_the_horizon():
    evs = [tele(i, "a") for i in range(10)]
    log = evs + evs[3:6] + [tele(10, "a")]  # three events appended again, then a new one
    tables = SimpleNamespace(asset_state={}, tag_windows={})
    for offset, ev in enumerate(log):
        apply_to_tables(tables, ev, 10.0, 5, "t", offset, horizon=16)
    assert tables.asset_state["a"]["events"] == 11
    assert sum(w["count"] for k, w in tables.tag_windows.items() if not k.endswith("|index")) == 11


def test_beyond_the_horizon_a_duplicate_is_folded_again_as_documented():
    evs = [tele(i, "a") for i in range(10)]
    tables = SimpleNamespace(asset_state={}, tag_windows={})
    for offset, ev in enumerate(evs + [evs[0]]):
        apply_to_tables(tables, ev, 10.0, 5, "t", offset, horizon=4)
    assert tables.asset_state["a"]["events"] == 11
    assert len(tables.asset_state["a"]["recent_ids"]) == 4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_duplicates_and_redelivery_together_change_nothing_twice(seed):
    rng = random.Random(seed)
    base = telemetry_log(300, seed)
    log, offset = [], 0
    for _, ev in base:  # every tenth event appended again a few events later
        log.append((offset, ev))
        offset += 1
        if rng.random() < 0.1:
            log.append((offset, ev))
            offset += 1
    once = SimpleNamespace(asset_state={}, tag_windows={})
    twice = SimpleNamespace(asset_state={}, tag_windows={})
    for o, ev in log:
        apply_to_tables(once, ev, 10.0, 5, "t", o, horizon=64)
    fold_with_redelivery(log, lambda o, e: apply_to_tables(twice, e, 10.0, 5, "t", o, horizon=64))
    assert once.asset_state == twice.asset_state and once.tag_windows == twice.tag_windows
    assert sum(s["events"] for s in once.asset_state.values()) == len(base)
