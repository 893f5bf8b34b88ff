"""The shape of every table value, as versioned msgspec structs: one place that says what each table holds.

The folds (``tables.asset_state``, ``tables.windows``, ``tables.availability``,
``tables.command_ledger``, ``agents.control``) build these values as plain dicts, the
form the changelogs and RocksDB hold (JSON). Here they are typed: ``domain(table, value)``
turns a stored value into its struct, without the runtime's redelivery bookkeeping
(``BOOKKEEPING``: the last offset a key absorbed, recent event ids), which is for the
folds' idempotence and never part of what a view shows. A fold that writes a field its
struct does not declare, or a value of the wrong type, fails ``domain``; the unit tests
convert every value a fold over a generated log produces (``tests/unit/test_table_values.py``).

A change of shape is a new version (``AssetStateV2`` beside ``AssetStateV1``, ``SCHEMAS``
pointing at the new one); stored data of the old shape is rewritten by ``factory rebuild``.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

Scalar = Union[bool, int, float, str]
# Per-key redelivery bookkeeping the folds keep inside stored values (see tables.asset_state).
BOOKKEEPING = frozenset({"offset", "recent_ids"})


class _Value(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    pass


class TagReadingV1(_Value):
    value: Scalar
    quality: str
    event_time: float
    seq: int | None = None


class AssetStateV1(_Value):
    """``asset_state`` / ``control_state``: the asset as its events say, last event wins per tag."""

    asset_id: str
    tags: dict[str, TagReadingV1]
    connection: str | None
    machine_state: str | None
    last_event_time: float | None
    events: int
    mode: str | None = None  # values folded before the asset_mode table carried it; views fill it from there


class AssetModeV1(_Value):
    """``asset_mode`` / ``control_mode`` / ``shadow_mode``: the asset's last mode change (no
    entry: auto), folded from the operator-actions topic."""

    asset_id: str
    mode: str
    operator: str
    since: float  # the change's event time
    reason: str
    event_id: str


class WindowV1(_Value):
    """``tag_windows`` at a window key: one tumbling window's aggregate of a numeric tag."""

    start: float
    end: float
    count: int
    min: float
    max: float
    sum: float
    mean: float
    last: float


class WindowIndexV1(_Value):
    """``tag_windows`` at an index key: the starts of the retained windows, oldest first."""

    starts: list[float]


class AvailabilityV1(_Value):
    """``availability``: time in each machine state and the OEE figures derived from it."""

    asset_id: str
    state: str | None
    since: float | None
    seconds_in: dict[str, float]
    first: dict[str, float]
    last: dict[str, float]
    seen_until: float | None
    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None


class MadeV1(_Value):
    """What a rated machine made in a period: parts, cycles, and the design time of those cycles."""

    good: float
    bad: float
    cycles: float
    ideal_s: float


class KpiPeriodV1(_Value):
    """One event-time period of an asset in ``kpi_periods``: sums, and the figures rated from them."""

    asset_id: str
    start: float
    end: float
    seconds_in: dict[str, float]
    made: MadeV1 | None  # None: the asset has no production facts (availability only)
    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None


class KpiPeriodsV1(_Value):
    """``kpi_periods``: per asset, the cursor of the fold and its newest periods, oldest first."""

    asset_id: str
    state: str | None
    until: float | None
    last: dict[str, float]
    periods: list[KpiPeriodV1]


class ConflictingCommandV1(_Value):
    """Another command that reused a ledger entry's id (not applied; the entry keeps the first)."""

    event_id: str
    digest: str
    asset_id: str
    rule: str
    action: str
    target: str
    value: Any = None
    seen_at: float | None = None


class LedgerEntryV1(_Value):
    """``command_ledger``: a command and what became of it (either may be folded first)."""

    command_id: str
    status: str
    results: int
    asset_id: str | None = None
    rule: str | None = None
    action: str | None = None
    target: str | None = None
    value: Any = None
    cause_event_id: str | None = None
    issued_at: float | None = None
    deadline: float | None = None
    detail: str | None = None
    result_at: float | None = None
    readback: Any = None  # the value the writer read back after a write (results since the plant view)
    result_ids: list[str] = []
    conflict_ids: list[str] = []
    conflicts: int = 0
    digest: str | None = None  # of the first command under this id: its content is the entry's
    conflicting: list[ConflictingCommandV1] = []  # other commands under this id, the first ten
    conflicting_digests: list[str] = []


# ``command_counts``: per asset, how many of its commands are in each status (zero counts left out).
CommandCountsV1 = dict[str, int]

class CommandPeriodV1(_Value):
    """One event-time period of ``command_periods``: how many commands issued in it are in each status."""

    start: float
    end: float
    counts: dict[str, int]


class CommandPeriodsV1(_Value):
    """``command_periods``: per asset, its newest periods' status counts, oldest first."""

    asset_id: str
    periods: list[CommandPeriodV1]


# ``control_rule_memory``: per rule name, that rule's own small memory (its module defines it).
RuleMemoryV1 = dict[str, dict[str, Any]]



class ShadowMemoryV1(msgspec.Struct, forbid_unknown_fields=True):
    """``shadow_memory``: per asset, both rule sets' memories and the running comparison."""

    active: RuleMemoryV1  # the active rules' memory, as the shadow folds them
    shadow: RuleMemoryV1  # the proposed rules' memory
    counts: dict[str, dict[str, int]]  # rule -> outcome (same, changed, shadow_only, active_only) -> count
    recent: list[dict[str, Any]]  # the last differing decisions: time, cause, both sides' commands
    since: float  # event time of the first event the shadow folded for the asset


SCHEMAS: dict[str, Any] = {
    "asset_state": AssetStateV1,
    "control_state": AssetStateV1,
    "asset_mode": AssetModeV1,
    "control_mode": AssetModeV1,
    "shadow_mode": AssetModeV1,
    "tag_windows": Union[WindowV1, WindowIndexV1],
    "availability": AvailabilityV1,
    "kpi_periods": KpiPeriodsV1,
    "command_ledger": LedgerEntryV1,
    "command_counts": CommandCountsV1,
    "command_periods": CommandPeriodsV1,
    "control_rule_memory": RuleMemoryV1,
    "shadow_state": AssetStateV1,
    "shadow_memory": ShadowMemoryV1,
}


def without_bookkeeping(value: dict) -> dict:
    return {k: v for k, v in value.items() if k not in BOOKKEEPING}


def domain(table: str, value: dict, key: str | None = None) -> Any:
    """The stored ``value`` of ``table`` as its struct (bookkeeping left out); raises
    ``msgspec.ValidationError`` naming the field when the value does not have the declared shape."""
    schema = SCHEMAS[table]
    if table == "tag_windows" and key is not None:  # the key says which of the two it is
        from tables.keys import parse_window_key

        schema = WindowIndexV1 if parse_window_key(key)[2] is None else WindowV1
    elif table == "tag_windows":
        schema = WindowIndexV1 if "starts" in value else WindowV1
    return msgspec.convert(without_bookkeeping(value), schema)


def public(table: str, value: dict, key: str | None = None) -> Any:
    """What a view shows of a stored value: its struct as JSON-ready builtins."""
    return msgspec.to_builtins(domain(table, value, key))
