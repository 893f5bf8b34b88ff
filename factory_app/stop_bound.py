"""A stop that always ends: once a role begins to stop, for whatever reason, it is gone within
``STOP_BOUND_S`` seconds.

An orderly stop (flush, commit, close sessions) can wait on peers that are gone: Faust's
shutdown commits through a group the worker has already left, an adapter closes OPC UA
sessions to PLCs that no longer answer. A process stuck there looks alive to its supervisor
(compose's restart policy, Swarm, systemd), which then never restarts it, and the plant stays
without control. So the first reason to stop (a signal, a crash, the end of the run) arms a
daemon thread that ends the process with ``os._exit`` when the orderly stop overruns; the
thread needs no event loop, so a loop stuck in a shutdown cannot hold it back. Exit codes: a
crash 1, a signal 128 + its number (what a shell reports for a process the signal killed).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

log = logging.getLogger(__name__)

# Compose and Swarm follow their SIGTERM with a SIGKILL after 10 s anyway; this bound is for the
# stops no one follows up: a crash, an orphan's parent-death signal, systemd's 90 s grace.
STOP_BOUND_S = float(os.environ.get("FACTORY_STOP_BOUND_S", "15"))

_armed = threading.Lock()
_reason: list[str] = []


def exit_code_for(signum: int | None) -> int:
    """1 for a crash or an end without a signal, 128 + ``signum`` for a signal."""
    return 1 if signum is None else 128 + int(signum)


def arm(why: str, code: int, bound_s: float | None = None) -> bool:
    """Begin the bound (once per process: later calls return False and change nothing)."""
    if not _armed.acquire(blocking=False):
        return False
    bound = STOP_BOUND_S if bound_s is None else bound_s
    _reason.append(why)
    log.info("stopping (%s); the process ends within %.0f s whatever its peers do", why, bound)

    def overrun() -> None:
        try:
            log.error("the stop (%s) did not finish within %.0f s; exiting now with code %d", why, bound, code)
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            logging.shutdown()
        finally:
            os._exit(code)

    timer = threading.Timer(bound, overrun)
    timer.daemon = True  # never what keeps the process alive
    timer.name = "stop-bound"
    timer.start()
    return True


def armed() -> str | None:
    """Why the bound was armed, or None."""
    return _reason[0] if _reason else None


def on_signal(signum: int) -> None:
    """What a role's signal handler calls before its orderly stop."""
    arm(f"{signal.Signals(signum).name} received", exit_code_for(signum))
