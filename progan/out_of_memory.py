"""What a run says when the device runs out of memory: one line with the command that goes on.

A step or a phase end that does not fit raises the backend's own error, several screens long
and different under TensorFlow and JAX; the user needs to know what did not fit and how to
resume from the last checkpoint so that it does.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from config import TrainConfig
from progan import backend
from progan.cli import resume_command
from progan.errors import ProganError
from progan.resolution import Shape, format_res
from progan.schedule import Phase

log = logging.getLogger(__name__)


@contextlib.contextmanager
def advice_on_out_of_memory(advice: Callable[[], str]) -> Iterator[None]:
    """Turn the backend's out-of-memory error into :class:`ProganError` with ``advice()`` (the
    allocation that failed is logged first); every other error passes."""
    try:
        yield
    except Exception as err:
        if not backend.is_out_of_memory(err):
            raise
        log.warning("out of memory: %s", str(err).strip().splitlines()[0])
        raise ProganError(advice()) from None


def without_evaluation(cfg: TrainConfig) -> str:
    """What a phase end that did not fit says (its images are drawn in training batches; the
    evaluation's arrays are what grows)."""
    return (
        f"out of memory evaluating the phase end on {cfg.eval_images} images; resume without "
        f"the evaluation: {resume_command(Path(cfg.out), '--eval-images', '0')}"
    )


def smaller_batches(cfg: TrainConfig, phase: Phase, shape: Shape, unit: int, workers: int) -> str:
    """What a step that did not fit says: the command that resumes the run from its last
    checkpoint with half that stage's batch (and no larger one above it), in a multiple of
    ``unit``, the batch the run's replicas or devices can split into minibatch-stddev groups
    of 2."""
    sizes = cfg.schedule.batch_sizes
    batch = sizes[phase.stage]
    smaller = max(unit, batch // 2 // unit * unit)
    where = f"out of memory at {format_res(shape)} {phase.name}"
    if smaller >= batch:
        return (
            f"{where} with batches of {batch}, already the smallest this run can split; use "
            "a device with more memory, or fewer channels"
        )
    capped = [*sizes[: phase.stage], *(min(size, smaller) for size in sizes[phase.stage :])]
    command = resume_command(Path(cfg.out), "--batch-sizes", ",".join(map(str, capped)))
    every = " on every worker" if workers > 1 else ""
    return f"{where} with batches of {batch}; resume with smaller ones{every}: {command}"
