"""The benchmark suite still runs end to end (tiny sizes). It measures nothing and asserts no speed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from bench.report import tables
from factory_app.lifecycle import die_with_parent
from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.mark.long
@pytest.mark.timeout(600)
def test_suite_smoke_run_produces_every_section(tmp_path):
    out = tmp_path / "suite.json"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "--smoke", "--out", str(out)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent())
    try:
        _, stderr = proc.communicate(timeout=560)
    except subprocess.TimeoutExpired:
        # SIGINT, not SIGKILL: the suite's finally blocks then stop its broker and workers.
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        pytest.fail(f"bench --smoke did not finish in 560 s:\n{stderr[-3000:]}")
    assert proc.returncode == 0, stderr[-3000:]
    result = json.loads(out.read_text())
    ingest = result["ingest"]["median_events_per_s"]
    assert set(ingest) == {"faust-1w", "faust-1w-unbatched", "faust-1w-perkey", "faust-2w", "faust-noop", "plain", "quix", "producer_alone"}
    assert all(v > 0 for v in ingest.values())
    assert set(result["loop_latency"]) == {"idle", "10%", "50%"}
    assert all(r["iterations"] >= 1 for r in result["loop_latency"].values())
    assert result["rebuild"]["median_rebuild_events_per_s"] > 0
    assert result["recovery"]["keys"] == 1_000
    log = result["history"]["logs"][0]
    assert log["events"] == 20_000 and log["near_end/all_assets"]["assets"] == 1000
    assert result["history"]["live"]["median_ratio_with_over_without"] > 0
    whatif = result["whatif"]["logs"][0]
    assert whatif["equal_to_reference"] == {"snapshots_warmup_0": True, "snapshots_warmup_3600": True,
                                            "offset_0": True}
    assert whatif["offset_0"]["commands"]["current"] > 0
    capacity = result["capacity"]["contenders"]
    assert set(capacity) == {"faust-1w", "quix"}
    assert all(c["steps"] and c["steps"][0]["probes"] >= 1 for c in capacity.values())
    assert "(1/5) ingest" in stderr  # progress is shown
    assert "Stateful ingest" in tables(result) and "Capacity" in tables(result)
