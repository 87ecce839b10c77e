"""Where the training step's time goes, stage by stage, from TensorFlow's profiler.

    python bench/step_profile.py [--preset paper] [--max-res 32x32] [--steps 3]

``bench/train_step.py`` says how fast each stage runs against the matmul peak; this says why.
It traces the trainer's own compiled step of every phase (each stage's fade-in, where both
resolutions' paths and the blend run, and its stabilize phase) under ``tf.profiler`` and sums
the kernel time of the traced steps by what each op does: convolutions forward and backward,
dense layers, resampling (nearest-neighbour doubling, average pooling), layout conversions, the
optimizer's updates and the rest (activations, the blend, the losses, reductions). What a
fade-in costs is its row's time per step over the stabilize row below it. A last column gives
the share of all kernel time spent in the gradient penalty's second backward: the ops the outer
tape builds from the penalty's own gradient, which the logistic loss with lazy R1 runs one step
in sixteen.

Shares are of kernel time summed over TensorFlow's inter-op threads, so they compare within a
row; the wall time per step is beside them. TensorFlow only (JAX has no such op names).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from train_step import bench_trainer, phase_step, seconds_per_step  # noqa: E402

from progan.resolution import format_res  # noqa: E402

CATEGORIES = ("conv fwd", "conv bwd", "dense", "resample", "layout", "optimizer", "other")
# The outer tape's name for gradients it takes through the penalty's inner gradient.
DOUBLE_BACKWARD = "gradient_tape/gradient_tape/"


def category(name: str, op_type: str) -> str:
    """What an op does, from its graph name and kernel type (oneDNN's kernels included)."""
    lower = name.lower()
    if "Conv2D" in op_type:
        return "conv bwd" if "Backprop" in op_type else "conv fwd"
    if "MatMul" in op_type:
        return "dense"
    if "adam" in lower or "optimizer" in lower or op_type.startswith("ResourceApply"):
        return "optimizer"
    if "AvgPool" in op_type or "repeat" in lower or op_type == "Tile":
        return "resample"
    if "Transpose" in op_type or "ToTf" in op_type or "InputConversion" in op_type:
        return "layout"
    return "other"


def kernel_times(logdir: Path) -> tuple[collections.Counter, float]:
    """Picoseconds per category, and in the penalty's second backward, from the profile."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(next(logdir.rglob("*.xplane.pb")).read_bytes())
    times: collections.Counter = collections.Counter()
    double = 0.0
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                full = plane.event_metadata[event.metadata_id].name
                name, _, op_type = full.partition(":")
                if not op_type or "::" in full:  # executor bookkeeping, not a kernel
                    continue
                times[category(name, op_type)] += event.duration_ps
                if name.startswith(DOUBLE_BACKWARD):
                    double += event.duration_ps
    return times, double


def profile_phase(trainer, phase, steps: int, tmp: Path) -> dict:
    import tensorflow as tf

    step, alpha, batches = phase_step(trainer, phase, steps)
    for _ in range(2):  # tracing and the first run stay out of the profile
        np.asarray(step(next(batches), alpha)["d_loss"])
    logdir = tmp / f"profile-{phase.stage}-{int(phase.fading)}"
    tf.profiler.experimental.start(str(logdir))
    seconds = seconds_per_step(step, alpha, batches)
    tf.profiler.experimental.stop()
    times, double = kernel_times(logdir)
    batch_size = trainer.cfg.schedule.batch_sizes[phase.stage]
    return {"ms": 1e3 * seconds, "batch": batch_size, "times": times, "double": double}


def main() -> None:
    from progan.schedule import Phase

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--max-res", default="32x32")
    parser.add_argument("--steps", type=int, default=3, help="profiled steps per phase")
    args = parser.parse_args()
    print(
        f"| stage | phase | batch | ms per step (profiled) | "
        f"{' | '.join(CATEGORIES)} | penalty 2nd backward |"
    )
    print("|---|---|---:|---:|" + "---:|" * (len(CATEGORIES) + 1), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = bench_trainer(args.preset, args.max_res, "-", "fp32", Path(tmp))
        for stage, shape in enumerate(trainer.shapes):
            for fade in (True, False) if stage else (False,):
                r = profile_phase(trainer, Phase(stage, fade, 10**9), args.steps, Path(tmp))
                total = sum(r["times"].values())
                shares = " | ".join(f"{100 * r['times'][c] / total:.0f}%" for c in CATEGORIES)
                print(
                    f"| {format_res(shape)} | {'fade-in' if fade else 'stabilize'} | "
                    f"{r['batch']} | {r['ms']:.0f} | {shares} | {100 * r['double'] / total:.0f}% |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
