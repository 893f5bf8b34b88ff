"""Stopping child processes together: every one gets SIGTERM at once; one that ignores it is
SIGKILLed when the shared timeout runs out."""

from __future__ import annotations

import signal

from factory_app.children import Child, stop_together, wait_until

# A child that says it is up, then waits for a signal; with "stubborn" it ignores SIGTERM.
# SIGALRM ends it after 600 s whatever happens to the test (a stubborn orphan does not linger).
CHILD = ("import signal, sys\n"
         "if sys.argv[1] == 'stubborn': signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
         "print('up', flush=True)\n"
         "signal.alarm(600)\n"
         "while True: signal.pause()\n")


def child(tmp_path, name: str, kind: str) -> Child:
    script = tmp_path / "child_main.py"
    script.write_text(CHILD)
    started = Child(name, [kind], tmp_path / "logs", env={"PYTHONPATH": str(tmp_path)}, module="child_main")
    wait_until(lambda: "up" in started.log_path.read_text(), 30, what=f"{name} up",
               abort=lambda: None if started.alive() else started.last_lines())
    return started


def test_stop_together_terms_all_and_kills_the_one_that_ignores_it(tmp_path):
    polite = [child(tmp_path, f"polite-{i}", "polite") for i in range(2)]
    stubborn = child(tmp_path, "stubborn", "stubborn")
    try:
        stop_together([stubborn, *polite], timeout=2)
        assert [c.proc.returncode for c in polite] == [-signal.SIGTERM] * 2
        assert stubborn.proc.returncode == -signal.SIGKILL
    finally:
        for c in (*polite, stubborn):
            if c.alive():
                c.kill()
