"""What the snapshot directory holds, per partition and point (``factory snapshots list``)."""

from __future__ import annotations

from datetime import datetime, timezone

from factory_app.settings import Settings
from factory_app.snapshots.store import Point, SnapshotStore


def inventory(settings: Settings) -> list[dict]:
    """One row per (partition, point): offsets, event-time reach, the processors snapshotted there."""
    store = SnapshotStore(settings.snapshots_dir)
    rows = []
    for partition in store.partitions():
        by_point: dict[Point, list[str]] = {}
        for point, tag, kind in store.names(partition):
            if kind == "snap":
                by_point.setdefault(point, []).append(tag.split("@")[0])
        for point in sorted(by_point):
            hwm = point.hwm
            rows.append({"partition": partition, "telemetry": point.telemetry, "actions": point.actions,
                         "hwm": hwm, "hwm_iso": None if hwm is None else
                         datetime.fromtimestamp(hwm, timezone.utc).isoformat(timespec="milliseconds"),
                         "processors": sorted(by_point[point])})
    return rows
