"""A worker that dies for good: its peers notice it by its silence and take its partitions long
before the group's session timeout would move them (issue 34, item 1; factory_app/liveness.py).

The session timeout here is 60 s, so a survivor holding every partition within 40 s of the
kill can only be the liveness watchdog's doing; how fast it is lives in bench/failover.py.
A worker that stops in order says so and is not evicted.
"""

from __future__ import annotations

import pytest

from factory_app.broker.node import free_port
from factory_app.children import wait_until
from harness.helpers import get_json, start_worker, worker_ready
from tests.conftest import isolated_settings

pytestmark = pytest.mark.integration


def assigned(s) -> set[str]:
    try:
        body = get_json(f"http://127.0.0.1:{s.web.port}/ready/")
    except Exception:  # noqa: BLE001 (not answering yet, or rebalancing)
        return set()
    return set(body["assigned"]) if body["ready"] else set()


@pytest.mark.timeout(400)
def test_a_dead_workers_partitions_move_to_its_peer_before_the_session_timeout(kafka, tmp_path, children):
    base = isolated_settings(kafka.cfg.bootstrap, tmp_path, session_timeout=60.0, liveness_timeout=1.0,
                             processors=["telemetry-state"])
    a, b = (base.updated({"web_port": free_port(), "worker_data": tmp_path / name}) for name in ("a", "b"))
    wa, wb = start_worker(a, "a"), start_worker(b, "b")
    children += [wa, wb]
    wait_until(lambda: worker_ready(a) and worker_ready(b) and assigned(a) and assigned(b), 180,
               what="two workers sharing the partitions")
    everything = assigned(a) | assigned(b)

    def b_hears_a() -> bool:  # a's current member id has reached b (a's first beats may predate its join)
        me = get_json(f"http://127.0.0.1:{a.web.port}/liveness/")
        peer = get_json(f"http://127.0.0.1:{b.web.port}/liveness/")["peers"].get(me["worker"])
        return bool(me["member"]) and peer is not None and peer["member"] == me["member"]
    wait_until(b_hears_a, 30, what="b hearing a's beats")
    wa.kill()  # SIGKILL: no LeaveGroup of its own, no last beat
    wait_until(lambda: assigned(b) == everything, 40, interval=0.2,
               what="the survivor holding every partition (the session timeout is 60 s)")
    assert "evicted its member" in open(wb.log_path).read()

    # An orderly stop is a leave, not a death: the new peer is not evicted by anyone.
    wc = start_worker(a, "a2")
    children.append(wc)
    wait_until(lambda: worker_ready(a) and worker_ready(b) and assigned(a) and assigned(b), 180,
               what="the restarted worker sharing the partitions again")
    leaver = get_json(f"http://127.0.0.1:{a.web.port}/liveness/")["worker"]
    wc.stop(timeout=30)
    wait_until(lambda: assigned(b) == everything, 60, interval=0.2, what="the survivor holding every partition")
    wait_until(lambda: get_json(f"http://127.0.0.1:{b.web.port}/liveness/")["peers"][leaver]["silent_s"] > 3, 30,
               what="b past its liveness timeout since the leaver's last beat")
    evictions = [line for line in open(wb.log_path) if "evicted its member" in line]
    assert evictions and not [line for line in evictions if f"worker {leaver} " in line], evictions
