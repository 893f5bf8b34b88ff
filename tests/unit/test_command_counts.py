"""The per-asset command counts always equal a count of the ledger's entries by asset and status,
in all and per event-time period of issue."""

import math
from collections import Counter

from hypothesis import given, settings, strategies as st

from agents.command_ledger import step
from factory_app import events

SIZE = 5.0
STATUSES = ("applied", "rejected", "expired", "unknown", "conflict")


def command(i: int, asset: str, value: float = 1.0) -> events.Command:
    return events.Command(event_id=f"c{i}-{asset}-{value}", asset_id=asset, event_time=100.0 + i, command_id=f"cmd-{i}",
                          action="write", target="heater_power", value=value, cause_event_id=f"e{i}",
                          rule="oven-1-thermostat", deadline=200.0 + i)


def result(i: int, asset: str, status: str, n: int) -> events.CommandResult:
    return events.CommandResult(event_id=f"r{i}-{n}", asset_id=asset, event_time=101.0 + i, command_id=f"cmd-{i}",
                                status=status)


# A log of commands and results in any order (a result may come first on replay), with
# redeliveries (the same result event twice) and conflicts.
logs = st.lists(st.tuples(st.integers(0, 8), st.sampled_from(["oven-1", "press-1"]),
                          st.sampled_from(("command",) + STATUSES), st.integers(0, 2)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(logs)
def test_counts_match_the_ledger_entries_whatever_the_order(log):
    ledger, counts, periods = {}, {}, {}
    owner = {}  # one asset per command id, as on the real log (the id is derived per asset's rule)
    for i, asset, kind, n in log:
        asset = owner.setdefault(i, asset)
        event = command(i, asset) if kind == "command" else result(i, asset, kind, n)
        step(ledger, counts, periods, event, SIZE, 1000)
    expected = Counter((e["asset_id"], e["status"]) for e in ledger.values() if e.get("asset_id"))
    got = Counter({(asset, status): n for asset, by in counts.items() for status, n in by.items()})
    assert got == expected
    assert all(n > 0 for by in counts.values() for n in by.values())
    # A command counts in its period of issue (its result's, while the command itself is unseen:
    # a result at 101 + i and its command at 100 + i may fall in different periods).
    issue = {id: e.get("issued_at", e.get("result_at")) for id, e in ledger.items()}
    expected = Counter((e["asset_id"], math.floor(issue[id] / SIZE) * SIZE, e["status"])
                       for id, e in ledger.items() if e.get("asset_id"))
    got = Counter({(asset, p["start"], status): n for asset, entry in periods.items() for p in entry["periods"]
                   for status, n in p["counts"].items()})
    assert got == expected


def test_a_result_moves_its_command_from_pending_to_its_status():
    ledger, counts, periods = {}, {}, {}
    step(ledger, counts, periods, command(1, "oven-1"), SIZE, 3)
    assert counts == {"oven-1": {"pending": 1}}
    step(ledger, counts, periods, result(1, "oven-1", "applied", 0), SIZE, 3)
    step(ledger, counts, periods, result(1, "oven-1", "applied", 0), SIZE, 3)  # redelivered
    assert counts == {"oven-1": {"applied": 1}}
    assert periods["oven-1"]["periods"] == [{"start": 100.0, "end": 105.0, "counts": {"applied": 1}}]


def test_only_the_newest_periods_are_counted():
    ledger, counts, periods = {}, {}, {}
    for i in (0, 5, 10, 15):
        step(ledger, counts, periods, command(i, "oven-1"), SIZE, 3)
    assert [p["start"] for p in periods["oven-1"]["periods"]] == [105.0, 110.0, 115.0]
    step(ledger, counts, periods, result(0, "oven-1", "applied", 0), SIZE, 3)  # its period is gone: nothing moves
    assert [p["counts"] for p in periods["oven-1"]["periods"]] == [{"pending": 1}] * 3
    assert counts == {"oven-1": {"pending": 3, "applied": 1}}


def test_the_first_command_under_an_id_keeps_its_entry_and_the_others_are_recorded_beside_it():
    """Before: the last Command seen under an id replaced asset, value and rule beside the first
    one's ``applied`` result, and moved its count to the other asset."""
    ledger, counts, periods = {}, {}, {}
    real, forged = command(1, "oven-1", 30.0), command(1, "press-1", 100.0)
    for event in (real, result(1, "oven-1", "applied", 0), forged, real, forged, command(1, "oven-1", 99.0)):
        step(ledger, counts, periods, event, SIZE, 3)
    entry = ledger["cmd-1"]
    assert (entry["asset_id"], entry["value"], entry["status"]) == ("oven-1", 30.0, "applied")
    assert counts == {"oven-1": {"applied": 1}}, "a conflicting command moved the count"
    assert [(c["asset_id"], c["value"]) for c in entry["conflicting"]] == [("press-1", 100.0), ("oven-1", 99.0)]
    assert entry["digest"] == events.command_digest(real)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["oven-1", "press-1"]), st.sampled_from([1.0, 2.0]),
                          st.sampled_from(["command", "applied"])), max_size=20))
def test_whatever_order_the_entry_holds_the_first_command_folded(log):
    ledger, counts, periods = {}, {}, {}
    first = None
    for asset, value, kind in log:
        if kind == "command":
            first = first or (asset, value)
            step(ledger, counts, periods, command(1, asset, value), SIZE, 3)
        else:
            step(ledger, counts, periods, result(1, first[0] if first else asset, "applied", 0), SIZE, 3)
    if first:
        entry = ledger["cmd-1"]
        assert (entry["asset_id"], entry["value"]) == first
        others = {(a, v) for a, v, k in log if k == "command"} - {first}
        assert {(c["asset_id"], c["value"]) for c in entry.get("conflicting", [])} == others
        expected = Counter({(entry["asset_id"], entry["status"]): 1})
        assert Counter({(a, s): n for a, by in counts.items() for s, n in by.items()}) == expected
