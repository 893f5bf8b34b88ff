"""The command ledger projection: every command and what became of it, keyed by command id;
per asset, how many of its commands are in each status (``command_counts``), and the same
per event-time period of issue (``command_periods``)."""

from __future__ import annotations

import math
from typing import Any

from factory_app.events import Command, CommandResult, command_digest

Entry = dict[str, Any]
# Other commands seen under one id that are kept in its entry (all are counted).
KEEP_CONFLICTING = 10


def apply_command_event(entry: Entry | None, event: Command | CommandResult) -> Entry:
    """Fold a Command or its CommandResult into the ledger entry (either may come first on replay)."""
    new: Entry = dict(entry) if entry else {"command_id": event.command_id, "status": "pending", "results": 0}
    if isinstance(event, Command):
        digest = command_digest(event)
        if new.get("action") is None:  # the first command under this id (its result may have come first)
            new.update(asset_id=event.asset_id, rule=event.rule, action=event.action, target=event.target,
                       value=event.value, cause_event_id=event.cause_event_id, issued_at=event.event_time,
                       deadline=event.deadline, digest=digest)
        elif not _same_content(new, event, digest):
            # Another command reusing the id (a forgery or a bug; the writer does not apply it): the
            # first content and its result stand, the other one is recorded beside them.
            new = _with_conflicting(new, event, digest)
    elif event.status == "conflict":
        # Another command reused this id and was not applied: noted, the command's own result stands.
        seen = sorted(set(new.get("conflict_ids", [])) | {event.event_id})
        new.update(conflict_ids=seen, conflicts=len(seen))
    else:
        # Counted by result event id: a result re-read after a crash is not a second result.
        seen = sorted(set(new.get("result_ids", [])) | {event.event_id})
        new.update(asset_id=event.asset_id, status=event.status, detail=event.detail, result_at=event.event_time,
                   readback=event.readback, result_ids=seen, results=len(seen))
    return new


def _same_content(entry: Entry, cmd: Command, digest: str) -> bool:
    if entry.get("digest") is not None:
        return entry["digest"] == digest
    # Folded before entries kept a digest: compare what they kept (arguments were not kept).
    return (entry.get("asset_id"), entry.get("rule"), entry.get("action"), entry.get("target"), entry.get("value"),
            entry.get("cause_event_id"), entry.get("deadline")) == (
        cmd.asset_id, cmd.rule, cmd.action, cmd.target, cmd.value, cmd.cause_event_id, cmd.deadline)


def _with_conflicting(entry: Entry, cmd: Command, digest: str) -> Entry:
    kept = list(entry.get("conflicting", []))
    if any(c["event_id"] == cmd.event_id for c in kept) or digest in entry.get("conflicting_digests", []):
        return entry  # the same other command again (a redelivery): already recorded
    digests = sorted(set(entry.get("conflicting_digests", [])) | {digest})
    if len(kept) < KEEP_CONFLICTING:
        kept.append({"event_id": cmd.event_id, "digest": digest, "asset_id": cmd.asset_id, "rule": cmd.rule,
                     "action": cmd.action, "target": cmd.target, "value": cmd.value, "seen_at": cmd.event_time})
    return {**entry, "conflicting": kept, "conflicting_digests": digests[-1000:]}


def count_moves(before: Entry | None, after: Entry) -> list[tuple[str, str, int]]:
    """``(asset, status, +1/-1)`` moves that keep the per-asset status counts equal to the
    ledger's entries after a fold changed one entry from ``before`` to ``after``.

    An entry is counted once it names its asset (a Command or a result may come first).
    Duplicates and conflicts change no status, so they move nothing."""
    old = (before.get("asset_id"), before["status"]) if before and before.get("asset_id") else None
    new = (after.get("asset_id"), after["status"]) if after.get("asset_id") else None
    if old == new:
        return []
    moves = [(old[0], old[1], -1)] if old else []
    return moves + ([(new[0], new[1], 1)] if new else [])


def apply_count(counts: dict[str, int] | None, status: str, delta: int) -> dict[str, int]:
    """One asset's status counts after a move (statuses that fall to zero are left out)."""
    new = dict(counts or {})
    new[status] = new.get(status, 0) + delta
    return {k: v for k, v in sorted(new.items()) if v}


def _period_of(entry: Entry | None, size: float) -> tuple[str, float, str] | None:
    # A command counts in the period it was issued in (its result's, until the command is folded).
    if not entry or not entry.get("asset_id"):
        return None
    at = entry.get("issued_at") if entry.get("issued_at") is not None else entry.get("result_at")
    return None if at is None else (entry["asset_id"], math.floor(at / size) * size, entry["status"])


def period_moves(before: Entry | None, after: Entry, size: float) -> list[tuple[str, float, str, int]]:
    """``(asset, period start, status, +1/-1)`` moves that keep the per-period status counts
    (``command_periods``) equal to the ledger's entries: as ``count_moves``, and a command whose
    result was folded before it moves from its result's period to its own."""
    old, new = _period_of(before, size), _period_of(after, size)
    if old == new:
        return []
    return ([(*old, -1)] if old else []) + ([(*new, 1)] if new else [])


def apply_period_move(entry: Entry | None, asset_id: str, start: float, status: str, delta: int, size: float,
                      keep: int) -> Entry:
    """An asset's ``command_periods`` entry (its newest ``keep`` periods' status counts, oldest
    first) after one move. A move into a period older than all kept ones, or out of one no longer
    kept, changes nothing: that period is gone."""
    periods = {p["start"]: p for p in (entry or {}).get("periods", [])}
    if start not in periods and (delta < 0 or (len(periods) >= keep and start < min(periods))):
        return entry or {"asset_id": asset_id, "periods": []}
    period = periods.get(start) or {"start": start, "end": start + size, "counts": {}}
    periods[start] = {**period, "counts": apply_count(period["counts"], status, delta)}
    return {"asset_id": asset_id, "periods": [periods[s] for s in sorted(periods)[-keep:]]}
