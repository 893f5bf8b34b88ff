"""Who has an asset: the control rules (auto) or an operator (manual). A pure fold over the
operator-actions topic's ModeChange events, one key per asset.

Its own table, apart from the asset state: the two are folded from different topics, whose
offsets cannot be compared, and keeping them apart makes each fold depend on its own topic's
order only (a rebuild gives the same tables however the two topics interleaved live).
"""

from __future__ import annotations

from typing import Any

from factory_app.events import ModeChange
from tables import values
from tables.asset_state import fold_per_asset

AssetMode = dict[str, Any]

AUTO = "auto"


def mode_of(entry: AssetMode | None) -> str:
    """The asset's mode: auto until an operator first sets one."""
    return AUTO if entry is None else entry["mode"]


def apply_mode(previous: AssetMode | None, event: ModeChange) -> AssetMode:
    """The entry after ``event``: the log's order decides (a later offset wins)."""
    return {"asset_id": event.asset_id, "mode": event.mode, "operator": event.operator,
            "since": event.event_time, "reason": event.reason, "event_id": event.event_id}


def fold_mode(table, event: ModeChange, offset: int | None = None, horizon: int = 0) -> None:
    """Fold ``event`` into ``table`` (mapping-like), idempotent by offset and event id."""
    fold_per_asset(table, event, lambda previous: apply_mode(previous, event), offset, horizon)


def with_mode(state: dict, entry: AssetMode | None) -> dict:
    """An asset's public state (``tables.values.public``) with its mode and who set it. Pure."""
    out = {**state, "mode": AUTO}
    if entry is not None:
        m = values.public("asset_mode", entry)
        out.update(mode=m["mode"], mode_operator=m["operator"], mode_since=m["since"], mode_reason=m["reason"])
    return out
