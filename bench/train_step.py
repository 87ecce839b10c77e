"""Speed of the real training step per stage, under TensorFlow and JAX, against the machine's
float32 matmul peak.

    python bench/train_step.py [--backends tensorflow jax] [--preset cpu --max-res 160x96]
                               [--preset paper --max-res 64x64]
                               [--variants fp32 bf16 jit noise]
                               [--steps 10]
    python bench/train_step.py --preset cpu --channels - --preset cpu
                               --channels 128,128,128,64,32,32

``--channels`` (one per ``--preset``, ``-`` for the preset's own) prices a wider or narrower
network against its preset in one run, as train.py's ``--channels`` would build it; the
``noise`` variant prices train.py's ``--noise-inputs`` (float32).

For every stage it times the trainer's own compiled step (stabilize phase, the preset's batch,
the trainer's own batches). Each backend runs in a process of its own (Keras takes one backend
per process), one after the other, and every row is printed as it is measured; a last table
gives JAX's images/s over TensorFlow's per stage. Under TensorFlow the step's floating-point
operations are counted from its traced graph (convolutions, their gradients, matmuls) and its
achieved GFLOP/s is printed next to a 4096² float32 matmul measured in the same process. JAX
always compiles with XLA, so it runs the fp32, bf16 and noise variants only (its rows use the FLOPs
TensorFlow counted for the same stage, when TensorFlow ran).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from config import PRESETS, TrainConfig  # noqa: E402
from progan.backend import BACKENDS  # noqa: E402
from progan.errors import ProganError  # noqa: E402
from progan.resolution import base_for, format_res, parse_res  # noqa: E402
from progan.train_command import parse_positive_ints  # noqa: E402


def matmul_gflops(n: int = 4096, repeats: int = 10) -> float:
    from keras import ops

    rng = np.random.default_rng(0)
    a, b = (ops.convert_to_tensor(rng.standard_normal((n, n)), "float32") for _ in "ab")
    np.asarray(ops.matmul(a, b))
    start = time.perf_counter()
    for _ in range(repeats):
        out = ops.matmul(a, b)
    np.asarray(out)
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


def bench_trainer(preset: str, max_res: str, channels: str, variant: str, tmp: Path):
    """The trainer of a fresh run of ``preset`` up to ``max_res`` on random images in ``tmp``,
    its first stages as wide as ``channels`` says (``-``: the preset's own)."""
    from progan.trainer import Trainer

    target = parse_res(max_res)
    chosen = PRESETS[preset]
    network = chosen.network.with_base(base_for(target))
    if channels != "-":
        network = network.with_first_channels(parse_positive_ints("--channels", channels))
    network = dataclasses.replace(network, noise_inputs=variant == "noise")
    data = fake_data(tmp / f"data-{max_res}", target)
    cfg = TrainConfig(
        out=str(tmp / f"run-{preset}-{channels}-{variant}"),
        data=str(data),
        data_root=str(tmp),
        preset=preset,
        network=network,
        schedule=chosen.schedule,
        max_res=target,
        mixed_precision="bf16" if variant == "bf16" else "off",
        jit="on" if variant == "jit" else "off",
        eval_images=0,
    )
    return Trainer(cfg)


def phase_step(trainer, phase, steps: int):
    """The trainer's compiled step of ``phase``, its alpha (0.5 in a fade-in) and ``steps`` + 2
    batches: two to trace and warm the step, then the ones to time."""
    from keras import ops

    trainer.new_optimizers(phase)
    step = trainer.make_step(phase, trainer.cfg.schedule.batch_sizes[phase.stage])
    alpha = ops.convert_to_tensor(0.5 if phase.fading else 1.0, "float32")
    return step, alpha, iter(trainer.phase_dataset(phase.stage, 0, steps + 2))


def seconds_per_step(step, alpha, batches) -> float:
    """Wall time per step over the batches left, waiting for the last step's result."""
    count = 0
    start = time.perf_counter()
    for batch in batches:
        out = step(batch, alpha)
        count += 1
    np.asarray(out["d_loss"])
    return (time.perf_counter() - start) / count


def bench_preset(preset: str, max_res: str, channels: str, variant: str, steps: int, tmp: Path):
    """Rows (dicts) for every stage of ``preset`` up to ``max_res``, under this process's
    backend."""
    from progan import backend
    from progan.schedule import Phase

    trainer = bench_trainer(preset, max_res, channels, variant, tmp)
    cfg, net = trainer.cfg, trainer.net
    for stage, shape in enumerate(trainer.shapes):
        batch_size = cfg.schedule.batch_sizes[stage]
        step, alpha, batches = phase_step(trainer, Phase(stage, False, 10**9), steps)
        first = next(batches)
        flops = (
            graph_flops(step.get_concrete_function(first, alpha))
            if backend.name() == "tensorflow"
            else None
        )
        np.asarray(step(first, alpha)["d_loss"])
        np.asarray(step(next(batches), alpha)["d_loss"])
        seconds = seconds_per_step(step, alpha, batches)
        yield {
            "backend": backend.name(),
            "preset": preset,
            "variant": variant,
            "res": format_res(shape),
            "channels": net.channels[stage],
            "spec": channels,
            "batch": batch_size,
            "img_s": batch_size / seconds,
            "flops": flops,
            "seconds": seconds,
        }


def worker(args: argparse.Namespace) -> None:
    """One backend's measurements, as JSON lines on stdout (the parent prints the tables)."""
    print(json.dumps({"peak": matmul_gflops()}), flush=True)
    variants = [v for v in args.variants if args.worker == "tensorflow" or v != "jit"]
    with tempfile.TemporaryDirectory() as tmp:
        for preset, res, channels in zip(args.preset, args.max_res, args.channels, strict=True):
            for variant in variants:
                for row in bench_preset(preset, res, channels, variant, args.steps, Path(tmp)):
                    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow"], choices=BACKENDS)
    parser.add_argument("--preset", action="append", help="preset (repeatable; default cpu, paper)")
    parser.add_argument(
        "--max-res",
        action="append",
        help="top stage per --preset (default 160x96 for cpu, 64x64 for paper)",
    )
    parser.add_argument(
        "--channels",
        action="append",
        help="feature maps per stage for each --preset, like train.py's (- for the preset's own)",
    )
    parser.add_argument(
        "--variants", nargs="+", default=["fp32"], choices=["fp32", "bf16", "jit", "noise"]
    )
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.preset = args.preset or ["cpu", "paper"]
    defaults = {"cpu": "160x96", "paper": "64x64"}
    args.max_res = args.max_res or [defaults[p] for p in args.preset]
    args.channels = args.channels or ["-"] * len(args.preset)
    for spec in args.channels:
        if spec != "-":
            try:
                parse_positive_ints("--channels", spec)
            except ProganError as error:
                raise SystemExit(str(error)) from None
    if args.worker:
        worker(args)
        return
    print(
        "| backend | preset | variant | stage | channels | batch | images/s | step GFLOP/s | "
        "% of matmul |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|", flush=True)
    rows, flops, peaks = [], {}, {}
    for name in args.backends:
        command = [sys.executable, __file__, "--worker", name, "--steps", str(args.steps)]
        command += ["--variants", *args.variants]
        for preset, res, channels in zip(args.preset, args.max_res, args.channels, strict=True):
            command += ["--preset", preset, "--max-res", res, "--channels", channels]
        env = os.environ | {"KERAS_BACKEND": name}
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as proc:
            for line in proc.stdout:
                row = json.loads(line)
                if "peak" in row:
                    peaks[name] = row["peak"]
                    continue
                key = (row["preset"], row["spec"], row["res"])
                row["flops"] = row["flops"] or flops.get(key)
                flops.setdefault(key, row["flops"])
                print_row(row, peaks[name])
                rows.append(row)
        if proc.returncode:
            raise SystemExit(f"the {name} worker failed (exit {proc.returncode})")
    print(
        "\n"
        + "  ".join(f"float32 matmul 4096² under {k}: {v:.0f} GFLOP/s" for k, v in peaks.items())
    )
    if len(peaks) == 2:
        print_ratios(rows)


def print_row(r: dict, peak: float) -> None:
    """One table row as soon as it is measured, so a cut-short run still leaves numbers."""
    gflops = r["flops"] / r["seconds"] / 1e9 if r["flops"] else None
    rate = f"{gflops:.1f} | {100 * gflops / peak:.0f}%" if gflops else "— | —"
    print(
        f"| {r['backend']} | {r['preset']} | {r['variant']} | {r['res']} | {r['channels']} | "
        f"{r['batch']} | {r['img_s']:.1f} | {rate} |",
        flush=True,
    )


def print_ratios(rows: list[dict]) -> None:
    """JAX's images/s over TensorFlow's, same preset, stage and variant, and over TF's jit."""
    by = {(r["backend"], r["preset"], r["spec"], r["variant"], r["res"]): r["img_s"] for r in rows}
    print("\n| preset | channels | stage | JAX / TF float32 | JAX / TF jit |")
    print("|---|---|---|---:|---:|")
    for (name, preset, spec, variant, res), rate in by.items():
        if name != "jax" or variant != "fp32":
            continue
        cells = [
            f"{rate / by[('tensorflow', preset, spec, v, res)]:.2f}×"
            if ("tensorflow", preset, spec, v, res) in by
            else "—"
            for v in ("fp32", "jit")
        ]
        print(f"| {preset} | {spec} | {res} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
