"""Independent reference folds of the telemetry log, written apart from tables/ on purpose.

They read the raw records the broker returns and compute, with plain dicts,
what the projections should hold. Sharing no code with the agents means a bug
in the agents' folds cannot hide in the comparison.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _events_in_log_order(records_by_partition: dict[int, list]) -> list[dict]:
    out = []
    for partition in sorted(records_by_partition):
        for rec in records_by_partition[partition]:
            try:
                ev = json.loads(rec.value)
            except ValueError:
                continue
            if not isinstance(ev, dict) or ev.get("type") not in ("telemetry", "state"):
                continue
            out.append(ev)
    return out


def fold_state(records_by_partition: dict[int, list], good_ids: set[str] | None = None) -> dict[str, Any]:
    """asset -> {tag -> (value, quality, event_time)} plus the number of events, by offset order."""
    state: dict[str, Any] = {}
    for ev in _events_in_log_order(records_by_partition):
        if good_ids is not None and ev["event_id"] not in good_ids:
            continue
        a = state.setdefault(ev["asset_id"], {"tags": {}, "events": 0})
        a["events"] += 1
        if ev["type"] == "telemetry":
            a["tags"][ev["tag"]] = (ev["value"], ev.get("quality", "good"), ev["event_time"])
    return state


def fold_windows(records_by_partition: dict[int, list], size: float,
                 good_ids: set[str] | None = None) -> dict[tuple[str, str, float], dict]:
    """(asset, tag, window start) -> count/min/max/mean/last over numeric samples (no retention)."""
    out: dict[tuple[str, str, float], dict] = {}
    for ev in _events_in_log_order(records_by_partition):
        if ev["type"] != "telemetry" or (good_ids is not None and ev["event_id"] not in good_ids):
            continue
        v = ev["value"]
        if isinstance(v, str):
            continue
        v = float(v)
        start = math.floor(ev["event_time"] / size) * size
        w = out.setdefault((ev["asset_id"], ev["tag"], start), {"values": []})
        w["values"].append(v)
    return {k: {"count": len(w["values"]), "min": min(w["values"]), "max": max(w["values"]),
                "mean": sum(w["values"]) / len(w["values"]), "last": w["values"][-1]} for k, w in out.items()}


def projection_state(dump: dict[str, Any]) -> dict[str, Any]:
    """The worker's asset_state table in the reference fold's shape."""
    return {asset: {"tags": {tag: (s["value"], s["quality"], s["event_time"]) for tag, s in st["tags"].items()},
                    "events": st["events"]} for asset, st in dump.items() if st is not None}


def projection_windows(dump: dict[str, Any]) -> dict[tuple[str, str, float], dict]:
    out = {}
    for key, agg in dump.items():
        if key.endswith("|index") or agg is None:
            continue
        # Keys escape "%" and "|" in asset and tag (tables/windows.py); undone here on its own.
        asset, tag, _ = (p.replace("%7C", "|").replace("%25", "%") for p in key.split("|"))
        out[(asset, tag, agg["start"])] = {k: agg[k] for k in ("count", "min", "max", "mean", "last")}
    return out
