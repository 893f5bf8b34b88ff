"""What the plant view shows of an asset, computed from its state and the plant file (pure)."""

from __future__ import annotations

from typing import Any

from factory_app.config import Asset

# Connection and machine states, as a colour class and the words beside it (never colour alone).
OK_STATES = frozenset({"running", "connected", "heating", "idle"})
FAULT_STATES = frozenset({"faulted", "fault", "error", "alarm", "jammed"})
STALE_AFTER_S = 10.0  # no event of the asset for this long: its values are shown as stale


def open_faults(asset: Asset, state: dict | None) -> list[str]:
    """Why an asset needs attention, in words: lost connection, a fault state, fault tags set,
    readings whose quality is not good."""
    if state is None:
        return ["no data yet"]
    faults = []
    if state.get("connection") not in (None, "connected"):
        faults.append(f"connection {state['connection']}")
    if (state.get("machine_state") or "") in FAULT_STATES:
        faults.append(f"machine {state['machine_state']}")
    tags = state.get("tags", {})
    for spec in asset.read:
        reading = tags.get(spec.tag)
        if reading is None:
            continue
        if spec.fault and reading.get("value") is True:
            faults.append(f"{spec.tag} set")
        if reading.get("quality") not in (None, "good"):
            faults.append(f"{spec.tag} quality {reading['quality']}")
    return faults


def health(asset: Asset, state: dict | None, now: float) -> str:
    """One word for the asset's tile: ``fault``, ``stale``, ``ok`` or ``unknown``."""
    if state is None:
        return "unknown"
    if open_faults(asset, state):
        return "fault"
    last = state.get("last_event_time")
    if last is None or now - last > STALE_AFTER_S:
        return "stale"
    return "ok"


def asset_view(asset: Asset, entry: dict | None, now: float) -> dict[str, Any]:
    """An asset's tile: states, key tags with units, age, faults, command counts, who answered."""
    state = entry["state"] if entry else None
    tags = (state or {}).get("tags", {})
    last = (state or {}).get("last_event_time")
    return {
        "asset_id": asset.id, "type": asset.type,
        "connection": (state or {}).get("connection"), "machine_state": (state or {}).get("machine_state"),
        "mode": (state or {}).get("mode") or "auto",
        "health": health(asset, state, now), "faults": open_faults(asset, state),
        "last_event_time": last, "age_s": None if last is None else max(0.0, now - last),
        "tags": [{"tag": spec.tag, "unit": spec.unit, "fault": spec.fault,
                  **({k: tags[spec.tag].get(k) for k in ("value", "quality", "event_time")}
                     if spec.tag in tags else {"value": None, "quality": None, "event_time": None})}
                 for spec in asset.read],
        "counts": (entry or {}).get("counts", {}),
        "worker": (entry or {}).get("worker"),
    }


def trend(windows: dict[str, dict], tag: str, points: int = 60) -> list[list[float]]:
    """[[window start, mean], ...] of one tag's newest windows, oldest first."""
    from tables.keys import parse_window_key

    series = []
    for key, agg in windows.items():
        _, t, start = parse_window_key(key)
        if t == tag and start is not None:
            series.append([start, agg["mean"]])
    return sorted(series)[-points:]
