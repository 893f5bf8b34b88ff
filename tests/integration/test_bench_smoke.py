"""The benchmark suite still runs end to end (tiny sizes). It measures nothing and asserts no speed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.report import tables
from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)
def test_suite_smoke_run_produces_every_section(tmp_path):
    out = tmp_path / "suite.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=580)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    ingest = result["ingest"]["median_events_per_s"]
    assert set(ingest) == {"faust-1w", "faust-1w-unbatched", "faust-2w", "faust-noop", "plain", "quix", "producer_alone"}
    assert all(v > 0 for v in ingest.values())
    assert set(result["loop_latency"]) == {"idle", "10%", "50%"}
    assert all(r["iterations"] >= 1 for r in result["loop_latency"].values())
    assert result["rebuild"]["median_rebuild_events_per_s"] > 0
    assert result["recovery"]["keys"] == 1_000
    assert "(1/4) ingest" in proc.stderr  # progress is shown
    assert "Stateful ingest" in tables(result)
