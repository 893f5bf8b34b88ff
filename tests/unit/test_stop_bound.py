"""The stop bound (issue 29, item 2) in a real child process: an orderly stop that hangs ends
with the bound's exit code; one that finishes in time ends normally."""

from __future__ import annotations

import subprocess
import sys
import time

HANGING = """
import signal, threading, time
from factory_app import stop_bound
stop_bound.arm("{why}", {code}, bound_s=1.0)
assert not stop_bound.arm("again", 99)  # once per process
{rest}
"""


def run(rest: str, code: int = 7) -> tuple[int, float, str]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", HANGING.format(why="test", code=code, rest=rest)],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, time.monotonic() - start, proc.stderr


def test_a_stop_that_hangs_ends_at_the_bound_with_its_code():
    # A main thread blocked for good, SIGTERM ignored: what Faust's stuck shutdown looked like.
    code, took, err = run("signal.signal(signal.SIGTERM, signal.SIG_IGN)\nthreading.Event().wait()")
    assert code == 7, err
    assert took < 30


def test_a_stop_that_finishes_in_time_is_not_cut():
    code, _, err = run("time.sleep(0.1)\nraise SystemExit(0)")
    assert code == 0, err


def test_exit_codes_say_why():
    from factory_app import stop_bound

    assert stop_bound.exit_code_for(None) == 1
    assert stop_bound.exit_code_for(15) == 143


CRASHING_APP = """
import asyncio, threading
import faust
from factory_app.bounded_worker import bound_crashes
app = faust.App("bound-crash", broker="kafka://127.0.0.1:9", store="memory://", datadir={datadir!r})
bound_crashes(app)
asyncio.run(app.crash(RuntimeError("a fetch could not be applied")))
assert app.crashed
threading.Event().wait()  # a shutdown that never ends
"""


def test_a_crashed_faust_app_ends_its_process_non_zero_within_the_bound(tmp_path):
    import os

    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", CRASHING_APP.format(datadir=str(tmp_path))], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "FACTORY_STOP_BOUND_S": "1"})
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert time.monotonic() - start < 60
    assert "crashed: RuntimeError" in proc.stderr or "did not finish" in proc.stderr, proc.stderr[-2000:]
