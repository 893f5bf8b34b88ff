"""The command ledger projection: every command and what became of it, keyed by command id."""

from __future__ import annotations

from typing import Any

from factory_app.events import Command, CommandResult

Entry = dict[str, Any]


def apply_command_event(entry: Entry | None, event: Command | CommandResult) -> Entry:
    """Fold a Command or its CommandResult into the ledger entry (either may come first on replay)."""
    new: Entry = dict(entry) if entry else {"command_id": event.command_id, "status": "pending", "results": 0}
    if isinstance(event, Command):
        new.update(asset_id=event.asset_id, rule=event.rule, action=event.action, target=event.target,
                   value=event.value, cause_event_id=event.cause_event_id, issued_at=event.event_time,
                   deadline=event.deadline)
    elif event.status == "conflict":
        # Another command reused this id and was not applied: noted, the command's own result stands.
        seen = sorted(set(new.get("conflict_ids", [])) | {event.event_id})
        new.update(conflict_ids=seen, conflicts=len(seen))
    else:
        # Counted by result event id: a result re-read after a crash is not a second result.
        seen = sorted(set(new.get("result_ids", [])) | {event.event_id})
        new.update(asset_id=event.asset_id, status=event.status, detail=event.detail, result_at=event.event_time,
                   result_ids=seen, results=len(seen))
    return new
