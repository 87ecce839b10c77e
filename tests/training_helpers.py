"""A tiny training run shared by the TensorFlow and the JAX suites (and their subprocesses)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from config import NetworkConfig, ScheduleConfig, TrainConfig
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
    )
    return TrainConfig(**settings | changes)


class StopMidFade(Trainer):
    """Asks to stop like Ctrl-C does, halfway through the first fade-in."""

    def _log_scalars(self, phase, values, rate):
        super()._log_scalars(phase, values, rate)
        if phase.fading and self.phase_shown >= 24:
            self.stop_signal = 2


def assert_same_weights(*pairs) -> None:
    """Each ``(model, model)`` pair holds the same weights, to float32 round-off."""
    for first, second in pairs:
        for a, b in zip(first.weights, second.weights, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
