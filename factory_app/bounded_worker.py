"""Faust's worker with every stop bounded (``factory_app.stop_bound``).

Seen on fcbd860: after a crash the worker stayed alive for over ten minutes in Faust's
shutdown (a consumer commit after it had left the group) and ignored SIGTERM, since Faust
takes only the first signal as a reason to stop. Here a signal, even one that comes while a
stop is under way, and whatever ended the run (a crash included) arm the bound first.
"""

from __future__ import annotations

from typing import Any

from faust import Worker

from factory_app import stop_bound


def _crashed(reason: Any) -> str:
    return f"crashed: {reason!r}"[:300]


def bound_crashes(app: Any) -> None:
    """The app's own crash (the runtime calls it when a fetch cannot be applied) arms the bound."""
    crash = app.crash

    async def bounded(reason: BaseException) -> None:
        stop_bound.arm(_crashed(reason), stop_bound.exit_code_for(None))
        await crash(reason)

    app.crash = bounded


class BoundedWorker(Worker):
    """See the module docstring."""

    def _schedule_shutdown(self, sig) -> None:
        stop_bound.on_signal(sig)
        super()._schedule_shutdown(sig)

    def on_worker_shutdown(self) -> None:
        reason = self.crash_reason or getattr(self.app, "crash_reason", None)
        stop_bound.arm(_crashed(reason) if reason else "the worker stops", stop_bound.exit_code_for(None))
        super().on_worker_shutdown()
