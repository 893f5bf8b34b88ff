"""The image's entry point, built the way the Dockerfile builds it, in a clean virtualenv."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.long
@pytest.mark.integration
def test_factory_help_from_a_clean_virtualenv(tmp_path):
    dockerfile = (REPO / "Dockerfile").read_text()
    build_stage = dockerfile.split("FROM ")[1]
    # Copy exactly what the build stage copies, so a file the image lacks fails here too.
    src = tmp_path / "src"
    src.mkdir()
    for line in build_stage.splitlines():
        m = re.match(r"COPY (?!--)(.+) (\S+)$", line.strip())
        if not m:
            continue
        *sources, dest = line.split()[1:]
        for source in sources:
            target = src / (Path(source).name if dest.endswith("/") or dest == "./" else dest.lstrip("./"))
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(REPO / source, target)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(src)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-3000:]
    out = subprocess.run([str(venv / "bin" / "factory"), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for sub in ("worker", "sim", "adapter", "rebuild", "verify"):
        assert sub in out.stdout
