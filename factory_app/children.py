"""Child processes of ``factory run`` (and of tests): started together, always stopped.

Each child gets the parent-death signal (``factory_app.lifecycle``): if its
supervisor dies, even by SIGKILL, the child is sent SIGTERM by the kernel.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from factory_app.lifecycle import die_with_parent


class Child:
    """One ``factory`` subcommand (or another ``module``) running in its own process group, logging to a file."""

    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None,
                 module: str = "factory_app"):
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, start_new_session=True,
            preexec_fn=die_with_parent(),
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def last_lines(self, n: int = 15) -> str:
        """What a user needs to see of a child that died: its last error and what followed it
        (a worker logs its whole shutdown after the error), or the log's last ``n`` lines."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        errors = [i for i, line in enumerate(lines) if " ERROR " in line or line.startswith("Error:")]
        start = errors[-1] if errors else max(0, len(lines) - n)
        tail = lines[start:start + n]
        # The exception's own line ends its traceback: keep it even when the traceback is long.
        last_exc = next((line for line in reversed(lines) if line and not line.startswith((" ", "\t"))
                         and ("Error" in line or "Exception" in line)), None)
        if last_exc is not None and last_exc not in tail:
            tail.append(last_exc)
        return "\n".join(tail)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM the child's group, SIGKILL it after ``timeout``; return the exit code."""
        if self.alive():
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        _signal_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()


def stop_together(children: list[Child], timeout: float = 20.0) -> None:
    """SIGTERM every child's group at once, then wait for them all (SIGKILL what is left after
    ``timeout``): the stop takes as long as the slowest child, not the sum of them. For children
    whose order of stopping does not matter (a test's plant at teardown)."""
    running = [c for c in children if c.alive()]
    for child in running:
        _signal_group(child.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in running:
        child.stop(timeout=max(0.0, deadline - time.monotonic()))


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition", abort=None):
    """Poll ``predicate`` until it returns a truthy value; raise TimeoutError naming ``what``.

    ``abort()``, when given, is asked first each time: a message from it (the thing waited
    for cannot happen any more, e.g. its process exited) ends the wait at once with that message."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        reason = abort() if abort is not None else None
        if reason:
            raise RuntimeError(f"gave up waiting for {what}: {reason}")
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # not ready yet
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc})")
