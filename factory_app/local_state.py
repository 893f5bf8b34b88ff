"""A worker's local table state is trusted only after the worker stopped in order.

Faust puts a table write into the local RocksDB at once and sends its changelog
message later, from a buffer. A worker killed in between leaves its local state
*ahead* of the changelog. The folds skip, per key, events the key already
absorbed (per-key offsets, see ``tables.asset_state.already_applied``), so the
redelivered events do not write those keys again and the lost changelog
messages are never sent: the next worker to restore that partition from the
changelog misses those writes (seen as windows short of samples, and events
missing from state, after random SIGKILLs in the chaos test).

So a worker marks its data directory only after an orderly stop (agents stopped,
producer buffer flushed, offsets committed), and a worker that starts without
that mark discards its local tables and restores them from the changelogs, the
authority (what Kafka Streams does after an unclean shutdown under exactly-once).
One worker per data directory is enforced by a lock: discarding another live
worker's tables would be its own kind of loss.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import IO

from factory_app.lifecycle import LockHeld, hold_pid_lock

log = logging.getLogger(__name__)

CLEAN_MARK = "stopped-in-order"
LOCK_FILE = "worker.lock"


class DataDirBusy(RuntimeError):
    """Another worker holds this data directory."""


def lock_data_dir(data_dir: Path) -> IO:
    """Hold ``data_dir`` for this process (released when the process ends, however it ends)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return hold_pid_lock(data_dir / LOCK_FILE)
    except LockHeld as held:
        raise DataDirBusy(f"another worker (pid {held.holder}) uses the data directory {data_dir}; "
                          f"give each worker its own --data-dir") from None


def begin_run(data_dir: Path, tabledir: Path) -> bool:
    """Call before the worker starts: discard ``tabledir`` unless the last run stopped in order.

    Returns True when local tables were discarded. The mark is removed either way,
    so a run that dies from here on is seen as unclean by the next one.
    """
    mark = data_dir / CLEAN_MARK
    discarded = False
    if tabledir.exists() and not mark.exists():
        log.warning("the last worker on %s did not stop in order: its local tables may hold writes their "
                    "changelogs lack; discarding them and restoring every table from its changelog", data_dir)
        shutil.rmtree(tabledir)
        discarded = True
    elif tabledir.exists():
        discarded = _discard_unreadable(tabledir)
    mark.unlink(missing_ok=True)
    _fsync_dir(data_dir)
    return discarded


def unreadable_partitions(tabledir: Path) -> dict[Path, str]:
    """Table partition databases under ``tabledir`` that RocksDB cannot open, with why (a disk
    error, a file truncated or overwritten while the worker was stopped)."""
    from rocksdict import AccessType, Rdict

    bad: dict[Path, str] = {}
    for db in sorted(tabledir.glob("*.db")):
        try:
            Rdict(str(db), access_type=AccessType.read_only()).close()
        except Exception as exc:  # rocksdict raises a bare Exception("Corruption: ...") / IO errors
            bad[db] = str(exc)[:300]
    return bad


def _discard_unreadable(tabledir: Path) -> bool:
    # Local tables are a cache of their changelogs: one that cannot be read is removed and
    # restored from its changelog, instead of crashing the worker at every start.
    bad = unreadable_partitions(tabledir)
    for db, why in bad.items():
        log.warning("local table partition %s cannot be read (%s); discarding it and restoring it from its "
                    "changelog", db.name, why)
        shutil.rmtree(db)
    return bool(bad)


def end_run_in_order(data_dir: Path) -> None:
    """Call after an orderly stop: the local tables equal their changelogs, keep them next time."""
    mark = data_dir / CLEAN_MARK
    with open(mark, "w") as handle:
        handle.write("the worker stopped in order; its local tables equal their changelogs\n")
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(data_dir)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
