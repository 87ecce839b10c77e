"""The benchmark scripts run as their docstrings say, on tiny settings (their numbers are for
the notes, not for the tests; what is asserted is that each prints its table)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

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


def test_critic_memory_finds_no_gap_between_a_folder_and_itself(tmp_path):
    import keras
    from PIL import Image

    from progan.discriminator import Discriminator
    from progan.export import write_export
    from progan.generator import Generator

    network = NetworkConfig((3, 5), 16, (16, 16), classes=("blue", "red"))
    keras.utils.set_random_seed(1)
    critic = Discriminator(network, 2, name="discriminator")
    state = {f"discriminator/{v.path}": v.numpy() for v in critic.weights}
    model = write_export(tmp_path / "model", Generator(network, 2), 2, {}, state=state)
    rng = np.random.default_rng(0)
    for name in ("seen", "other"):
        (tmp_path / name).mkdir()
        for i in range(16):
            pixels = rng.integers(0, 256, (6, 10, 3), np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i:02d}.png")
    flags = ["--model", str(model), "--n", "16", "--reals", str(tmp_path / "seen")]
    itself = bench(
        "bench/critic_memory.py", *flags, "--fresh", str(tmp_path / "seen"), "--label", "red"
    )
    rows = [line for line in itself.splitlines() if line.startswith("| ") and "|---" not in line]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| trained on",
        "| never seen",
        "| fakes (EMA G)",
    ]
    assert rows[1].split(" | ")[1] == rows[2].split(" | ")[1]  # the same images, the same score
    assert "memorized: 0.000 ± " in itself
    other = bench(
        "bench/critic_memory.py", *flags, "--fresh", str(tmp_path / "other"), "--label", "red"
    )
    assert "memorized: 0.000 ± " not in other
    refused = subprocess.run(
        [sys.executable, "bench/critic_memory.py", *flags, "--fresh", str(tmp_path / "seen")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: the model is conditional: give --label, one of blue, red"
    ]
