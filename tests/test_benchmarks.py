"""The benchmarks keep working: one smoke run of every benchmark at tiny size (no timing asserted)."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_benchmark_runs_and_prints_its_ratio(tmp_path):
    env = {**os.environ, "FERCOURSE_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "benchmarks/run.py", "--quick"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "x |" in line]
    names = {line.split("|")[1].strip() for line in rows}
    assert {"data epoch", "data load", "VGG16 phase 1 (head)", "VGG16 phase 2 (block 5 + head)",
            "training throughput (light VGG)", "Grad-CAM", "face detection (load_dataset faces=crop)"} <= names
    assert "compute efficiency" in done.stdout and "GFLOP/s" in done.stdout
