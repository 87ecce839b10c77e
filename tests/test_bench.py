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


def test_noise_strength_at_scale_one_is_what_evaluate_measures(tmp_path):
    import keras
    from PIL import Image

    from progan.export import write_export
    from progan.generator import Generator

    network = NetworkConfig((3, 5), 16, (16, 16, 16), noise_inputs=True)
    keras.utils.set_random_seed(3)
    generator = Generator(network, 3)  # up to 20x12: SWD needs 7x7 patches
    for variable in generator.weights:
        if "_noise" in variable.path:  # trained noise, not the zero strength a run starts with
            variable.assign(np.full(variable.shape, 0.5, np.float32))
    model = write_export(tmp_path / "model", generator, 3, {})
    rng = np.random.default_rng(0)
    (tmp_path / "reals").mkdir()
    for i in range(24):
        pixels = rng.integers(0, 256, (12, 20, 3), np.uint8)
        Image.fromarray(pixels).save(tmp_path / "reals" / f"{i:02d}.png")
    flags = ["--data", str(tmp_path / "reals"), "--data-root", str(tmp_path), "--n", "12"]
    out = bench("bench/noise_strength.py", "--model", str(model), "--scales", "0,1", *flags)
    rows = {row.split(" | ")[0]: row.split(" | ") for row in out.splitlines() if "|---" not in row}
    assert rows["| 1"][1] == "0.5000" and rows["| 0"][1] == "0.0000"
    scaled = [cell.split(" (")[0] for cell in rows["| 1"][2:]]
    assert scaled != [cell.split(" (")[0] for cell in rows["| 0"][2:]]
    evaluated = bench("-m", "progan", "evaluate", "--model", str(model), *flags)
    swd = [line.split(" | ")[1] for line in evaluated.splitlines() if line.startswith("| SWD")]
    assert scaled == swd
    plain = write_random_export(tmp_path / "plain", NetworkConfig((3, 5), 16, (16, 16, 16)), 3)
    refused = subprocess.run(
        [sys.executable, "bench/noise_strength.py", "--model", str(plain), *flags],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: {plain} has no noise inputs (a run trained with --noise-inputs has)"
    ]
