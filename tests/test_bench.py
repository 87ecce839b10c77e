"""The benchmark scripts run as their docstrings say, on tiny settings (their numbers are for
the notes, not for the tests; what is asserted is that each prints its table)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from config import NetworkConfig
from progan.export import write_random_export

REPO = Path(__file__).resolve().parent.parent


def bench(*argv: str) -> str:
    proc = subprocess.run(
        [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_step_profile_prints_a_row_per_phase():
    out = bench("bench/step_profile.py", "--preset", "cpu", "--max-res", "10x6", "--steps", "1")
    rows = [line for line in out.splitlines() if line.startswith("| 5x3") or "| 10x6" in line]
    assert [row.split(" | ")[1] for row in rows] == ["stabilize", "fade-in", "stabilize"]


def test_serve_benchmarks_a_conditional_model_by_both_paths(tmp_path):
    network = NetworkConfig((3, 5), 16, (16, 16), classes=("blue", "original", "red"))
    model = write_random_export(tmp_path / "cond", network, 2)
    out = bench("bench/serve.py", "--model", str(model), "--requests", "3", "--concurrent", "4")
    assert "10x6 studio: p50" in out and "10x6 naive predict: p50" in out
