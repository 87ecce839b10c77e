"""Tiny training runs shared by the test files: ProGAN (the TensorFlow and the JAX suites and
their subprocesses) and CycleGAN (its tests, the studio's recolor page)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from config import (
    CycleGANConfig,
    LaundryConfig,
    NetworkConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
)
from progan.trainer import Trainer

TINY = NetworkConfig(base=(3, 5), latent_dim=16, channels=(16, 16, 8, 8))


def tiny_config(out: Path, data: Path, **changes) -> TrainConfig:
    settings = dict(
        out=str(out),
        data=str(data),
        data_root=str(out.parent / "data"),
        network=TINY,
        schedule=ScheduleConfig(kimg_per_phase=0.048, batch_sizes=(8, 8, 8, 8)),
        max_res=(6, 10),
        log_every_steps=1,
        save_every_min=100.0,
        grid_size=(2, 2),
        # The paper's rules are pinned in float32 on every machine, whatever a new run's default.
        mixed_precision="off",
    )
    return TrainConfig(**settings | changes)


class StopMidFade(Trainer):
    """Asks to stop like Ctrl-C does, halfway through the first fade-in."""

    def _log_scalars(self, phase, values, rate):
        super()._log_scalars(phase, values, rate)
        if phase.fading and self.progress.phase_images >= 24:
            self.stop_signal = 2


def tensorboard_scalars(folder: Path, tag: str) -> list[float]:
    """The values a run logged under ``tag``, read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return [float(make_ndarray(event.tensor_proto)) for event in events.Tensors(tag)]


def assert_same_weights(*pairs, lr: float = OptimizerConfig().learning_rate) -> None:
    """Each ``(model, model)`` pair holds the same weights, to what round-off can do under Adam:
    every variable within 1e-4 of its size (Euclidean norm) plus 20 steps of Adam's rate ``lr``.

    On a loaded machine the two runs of a test may round differently (about 1 in 40 runs with
    two test processes on two cores; bitwise the same otherwise), and Adam turns that into whole
    steps: its update is lr·sign(g) at a phase's first step and close to it for a gradient near
    zero, so an element whose sign round-off decides lands 2·lr away. A bias a few steps old is
    made of such steps: one was seen off by 4.4·lr, 15 % of its size (CI, 2026-12-07). A resume
    that loses Adam's state or one batch moves some variable by 55 to 81·lr beyond 1e-4 of its
    size (measured on the conditional test's run the same day)."""
    for first, second in pairs:
        for x, y in zip(first.weights, second.weights, strict=True):
            a, b = np.asarray(x.numpy(), np.float64), np.asarray(y.numpy(), np.float64)
            off, size = np.linalg.norm(a - b), np.linalg.norm(b)
            allowed = 1e-4 * size + 20 * lr
            assert off <= allowed, f"{x.path}: off by {off:.3g}, its size {size:.3g}"


# CycleGAN --------------------------------------------------------------------------------------

SMALL_LAUNDRY = dataclasses.replace(LaundryConfig(), n=10, seed=3, size=(90, 160))


def make_small_laundry(root: Path, settings: LaundryConfig = SMALL_LAUNDRY) -> Path:
    """Ten 160x90 laundry photos (or as ``settings`` say) and their recolors under ``root``
    (the data root)."""
    from progan.datasets import laundry
    from progan.datasets.laundry.recolored import build

    laundry.generate(root / "laundry", settings, workers=1)
    build(root, settings, workers=1)
    return root


def tiny_cyclegan(out: Path, data_root: Path, **changes) -> CycleGANConfig:
    settings = dict(
        out=str(out),
        data_root=str(data_root),
        res=(48, 80),
        domain_images=4,
        test_images=2,
        iterations=6,
        log_every=2,
        filters=8,
        blocks=1,
        critic_filters=8,
        pool_size=2,
    )
    return CycleGANConfig(**settings | changes)


def make_translator(root: Path) -> Path:
    """A translator trained for two iterations on the small laundry set: an export to serve."""
    from progan.cyclegan.trainer import CycleGANTrainer

    data = make_small_laundry(root / "data")
    cfg = tiny_cyclegan(root / "translator", data, iterations=2)
    return CycleGANTrainer(cfg, SMALL_LAUNDRY).train()


# Segmenter -------------------------------------------------------------------------------------


def make_segmenter(root: Path) -> Path:
    """A small segmenter trained for four epochs on the small laundry set: an export to serve."""
    from config import SegmenterConfig
    from progan.segment.trainer import SegmenterTrainer

    data = make_small_laundry(root / "data")
    cfg = SegmenterConfig(
        out=str(root / "segmenter"),
        data=str(data / "laundry"),
        res=(36, 64),
        widths=(8, 16, 16),
        epochs=4,
        batch_size=4,
        held_out=2,
    )
    return SegmenterTrainer(cfg).train()
