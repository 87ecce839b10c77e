"""Why a training run stops early, shared by the ProGAN, CycleGAN and segmenter trainers.

A signal (Ctrl-C, SIGTERM from a scheduler) does not raise in the middle of a step: it is noted,
the loop finishes the step, saves and stops, so a stop loses nothing. A loss gone NaN stops the
run before the next save, so the last checkpoint kept is a good one.
"""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from progan.errors import ProganError


class TrainingDiverged(ProganError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class Stoppable(Protocol):
    stop_signal: int | None


@contextlib.contextmanager
def stop_on_signals(trainer: Stoppable) -> Iterator[None]:
    """While training, SIGINT and SIGTERM set ``trainer.stop_signal`` for the loop to act on."""

    def request(signum: int, _frame) -> None:
        trainer.stop_signal = signum

    previous = {s: signal.signal(s, request) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_finite(values: dict[str, float], where: str, checkpoints: Path) -> None:
    """Raise :class:`TrainingDiverged` naming every value that is NaN or infinite."""
    bad = [name for name, v in values.items() if not math.isfinite(v)]
    if bad:
        raise TrainingDiverged(
            f"{', '.join(bad)} became NaN/Inf at {where}; the last good checkpoint in "
            f"{checkpoints} is kept (lower the learning rate or resume from it)"
        )
