"""Process lifecycle: children that cannot outlive the process that started them.

Linux's ``PR_SET_PDEATHSIG`` asks the kernel to signal a child when its parent
dies, however it dies (SIGKILL included), so no simulated PLC, worker or
command writer keeps running under PID 1 after its supervisor is gone. It is
set between fork and exec and survives the exec. (The kernel ties it to the
thread that forked: start children from the main thread.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return libc.prctl


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child receive ``sig`` when its parent dies (None off Linux)."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the flag was set
            os.kill(os.getpid(), sig)
    return preexec


def on_termination(handler: Callable[[int], None]) -> None:
    """Call ``handler(signum)`` on SIGTERM and SIGHUP (a ``kill``, a closed terminal) as on Ctrl-C."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: handler(signum))


class LockHeld(RuntimeError):
    """Another live process holds the lock; ``holder`` is its pid as it wrote it."""

    def __init__(self, holder: str):
        super().__init__(f"held by pid {holder}")
        self.holder = holder


def hold_pid_lock(path):
    """Lock ``path`` for this process and write its pid there; raise ``LockHeld`` naming the holder.

    An flock: released by the kernel when the process ends, however it ends, so a crash
    never leaves a stale lock. Keep the returned file open for as long as the lock is held.
    """
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise LockHeld(holder) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
