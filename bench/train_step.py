"""Speed of the real training step per stage, against the machine's float32 matmul peak.

    python bench/train_step.py [--preset cpu --max-res 160x96] [--preset paper --max-res 64x64]
                               [--variants fp32 bf16 jit] [--steps 10]

For every stage it times the trainer's own compiled step (stabilize phase, the preset's batch,
data from the real tf.data pipeline) and counts the step's floating-point operations from the
traced graph (TensorFlow's op statistics: convolutions, their gradients, matmuls). Achieved
GFLOP/s is printed next to the GFLOP/s of a 4096² float32 matmul measured in the same process,
so the ratio says how close the step runs to what this machine can do.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from config import PRESETS, TrainConfig  # noqa: E402
from progan.resolution import base_for, format_res, parse_res  # noqa: E402
from progan.trainer import Phase, Trainer  # noqa: E402


def matmul_gflops(n: int = 4096, repeats: int = 10) -> float:
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    matmul = tf.function(lambda x, y: tf.matmul(x, y))
    matmul(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        out = matmul(a, b)
    out.numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def graph_flops(concrete) -> float:
    """Float operations of one call, from TensorFlow's registered op statistics."""
    from tensorflow.python.framework import ops as tf_ops

    total = 0
    graphs = [
        concrete.graph,
        *[
            f.graph
            for f in getattr(concrete.graph, "_functions", {}).values()
            if hasattr(f, "graph")
        ],
    ]
    for graph in graphs:
        for op in graph.get_operations():
            try:
                stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
            except (ValueError, KeyError):
                continue
            total += stats.value or 0
    return float(total)


def fake_data(folder: Path, shape: tuple[int, int], count: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        image = rng.integers(0, 255, (*shape, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / f"{i}.png")
    return folder


def bench_preset(
    preset: str, max_res: str, variant: str, steps: int, tmp: Path, peak: float
) -> None:
    target = parse_res(max_res)
    chosen = PRESETS[preset]
    net = chosen.network.with_base(base_for(target))
    data = fake_data(tmp / f"data-{max_res}", target)
    cfg = TrainConfig(
        out=str(tmp / f"run-{preset}-{variant}"),
        data=str(data),
        data_root=str(tmp),
        preset=preset,
        network=net,
        schedule=chosen.schedule,
        max_res=target,
        mixed_precision="bf16" if variant == "bf16" else "off",
        jit=variant == "jit",
    )
    trainer = Trainer(cfg)
    for stage, shape in enumerate(trainer.shapes):
        phase = Phase(stage, False, 10**9)
        trainer.new_optimizers(phase)
        batch_size = cfg.schedule.batch_sizes[stage]
        step = trainer.make_step(phase, batch_size)
        dataset = trainer.phase_dataset(stage, 0, steps + 2)
        alpha = tf.constant(1.0)
        batches = iter(dataset)
        first = next(batches)
        flops = graph_flops(step.get_concrete_function(first, alpha))
        step(first, alpha)["d_loss"].numpy()
        step(next(batches), alpha)["d_loss"].numpy()
        start = time.perf_counter()
        for batch in batches:
            out = step(batch, alpha)
        out["d_loss"].numpy()
        seconds = (time.perf_counter() - start) / steps
        row = {
            "preset": preset,
            "variant": variant,
            "res": format_res(shape),
            "channels": net.channels[stage],
            "batch": batch_size,
            "img_s": batch_size / seconds,
            "gflops": flops / seconds / 1e9,
        }
        print_row(row, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", help="preset (repeatable; default cpu, paper)")
    parser.add_argument(
        "--max-res",
        action="append",
        help="top stage per --preset (default 160x96 for cpu, 64x64 for paper)",
    )
    parser.add_argument("--variants", nargs="+", default=["fp32"], choices=["fp32", "bf16", "jit"])
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    presets = args.preset or ["cpu", "paper"]
    defaults = {"cpu": "160x96", "paper": "64x64"}
    max_res = args.max_res or [defaults[p] for p in presets]
    peak = matmul_gflops()
    print(f"float32 matmul 4096x4096 in this process: {peak:.0f} GFLOP/s\n")
    print("| preset | variant | stage | channels | batch | images/s | step GFLOP/s | % of matmul |")
    print("|---|---|---|---:|---:|---:|---:|---:|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for preset, res in zip(presets, max_res, strict=True):
            for variant in args.variants:
                bench_preset(preset, res, variant, args.steps, Path(tmp), peak)


def print_row(r: dict, peak: float) -> None:
    """One table row as soon as it is measured, so a cut-short run still leaves numbers."""
    print(
        f"| {r['preset']} | {r['variant']} | {r['res']} | {r['channels']} | {r['batch']} | "
        f"{r['img_s']:.1f} | {r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f}% |",
        flush=True,
    )


if __name__ == "__main__":
    main()
