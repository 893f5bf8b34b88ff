"""Thinning old snapshot points: the newest span kept whole, older points one per interval.

A point per partition every ``snapshot_every_seconds`` grows the directory without end (the
1,000-asset plant's estimate is in docs/history.md). Old instants are asked less often and
may cost more, so beyond ``snapshot_keep_all_seconds`` of event time only the newest point
of each ``snapshot_thin_to_seconds`` is kept. Dropping a point must not lose a late event:
the ledgers on either side of it are merged into one that spans both, written before
anything is deleted, so a thinning stopped at any step leaves a directory every read still
answers exactly from (the merged ledger reaches further, and a chain takes the furthest), and
the next thinning finishes it.
"""

from __future__ import annotations

from factory_app.snapshots.bounded import ledger_chain
from factory_app.snapshots.store import Ledger, Point, SnapshotStore


def to_thin(points: list[Point], keep_all_ms: int, every_ms: int) -> list[Point]:
    """The points to drop: those older (by event-time mark) than ``keep_all_ms`` before the
    newest, except the newest of each ``every_ms`` bucket; the newest point is kept. Pure."""
    if not points:
        return []
    newest = max(points)
    old = sorted(p for p in points if p != newest and p.hwm_ms < newest.hwm_ms - keep_all_ms)
    kept: dict[int, Point] = {}
    for p in old:  # ascending: the last of a bucket wins
        kept[p.hwm_ms // every_ms] = p
    return [p for p in old if kept[p.hwm_ms // every_ms] != p]


def merge_runs(chain: list[Ledger], dropped: set[Point]) -> list[list[Ledger]]:
    """The chain cut into runs that become one ledger each: a run goes on across every dropped
    point it ends at. Pure."""
    runs: list[list[Ledger]] = []
    for g in chain:
        if runs and runs[-1][-1].to in dropped:
            runs[-1].append(g)
        else:
            runs.append([g])
    return runs


def merged(run: list[Ledger]) -> Ledger:
    marks = [g.min_event_ms for g in run if g.min_event_ms >= 0]
    return Ledger(run[0].start, run[-1].to, min(marks, default=-1))


def superseded(ledgers: list[Ledger], chain: list[Ledger]) -> list[Ledger]:
    """Ledgers off the chain that one of its ledgers spans: a thinning stopped after its merge left
    them, and their entries are in the merged one. Pure."""
    on = set(chain)

    def inside(g: Ledger, c: Ledger) -> bool:
        return (c.start.telemetry <= g.start.telemetry and c.start.actions <= g.start.actions
                and g.to.telemetry <= c.to.telemetry and g.to.actions <= c.to.actions)
    return [g for g in ledgers if g not in on and any(inside(g, c) for c in chain)]


def _drop_points(store: SnapshotStore, partition: int, points: set[Point]) -> None:
    for point in points:
        for f in store.partition_dir(partition).glob(f"{point.stem}.*"):
            if f.name.endswith((".snap", ".snap.ok")):
                f.unlink(missing_ok=True)


def _finish_stopped(store: SnapshotStore, partition: int, lateness_ms: int, ledgers: list[Ledger],
                    chain: list[Ledger]) -> None:
    """Finish a thinning that stopped after writing its merged ledgers: the points those span
    inside them go first (as in a whole thinning), then the ledgers they replaced."""
    left = superseded(ledgers, chain)
    _drop_points(store, partition, {g.to for g in left} - {g.to for g in chain})
    for g in left:
        store.ledger_path(partition, g, lateness_ms).unlink(missing_ok=True)


def thin_partition(store: SnapshotStore, partition: int, lateness_ms: int, keep_all_s: float,
                   every_s: float) -> int:
    """Thin one partition's points; returns how many were dropped."""
    ledgers = store.ledgers(partition, lateness_ms)
    if not ledgers:
        return 0
    first = min(ledgers, key=lambda g: (g.start.telemetry, g.start.actions)).start
    chain, _ = ledger_chain(ledgers, first)
    _finish_stopped(store, partition, lateness_ms, ledgers, chain)
    snapped = {p for p, _, kind in store.names(partition) if kind == "snap"}
    # Only points between two ledgers of the chain: the newest stays (a builder goes on from it).
    inner = [g.to for g in chain[:-1] if g.to in snapped]
    ends = [g.to for g in chain if g.to in snapped]
    dropped = set(to_thin(ends, int(keep_all_s * 1000), int(every_s * 1000))) & set(inner)
    if not dropped:
        return 0
    runs = [run for run in merge_runs(chain, dropped) if len(run) > 1]
    for run in runs:  # first the merged ledgers: nothing read is ever missing
        entries = [e for g in run for e in store.read_ledger(partition, g, lateness_ms)]
        store.write_ledger(partition, merged(run), lateness_ms, entries)
    _drop_points(store, partition, dropped)
    for run in runs:
        for g in run:
            store.ledger_path(partition, g, lateness_ms).unlink(missing_ok=True)
    return len(dropped)


def thin(store: SnapshotStore, lateness_ms: int, keep_all_s: float, every_s: float) -> int:
    return sum(thin_partition(store, p, lateness_ms, keep_all_s, every_s) for p in store.partitions())
