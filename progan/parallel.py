"""Run independent per-image jobs on every core, with one progress bar.

Workers are started with ``spawn``: the data sets are often built from inside the trainer,
after TensorFlow has started its thread pools, and forking such a process is unsafe. The jobs
here only need numpy, PIL and scikit-image, so a fresh interpreter per worker is cheap.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from progan.errors import ProganError
from progan.progress import progress_bar

Job = TypeVar("Job")
Result = TypeVar("Result")

# Below this many jobs, starting workers costs more than it saves.
MIN_JOBS_PER_WORKER = 4


def default_workers() -> int:
    return os.cpu_count() or 1


def parallel_map(
    fn: Callable[[Job], Result],
    jobs: Sequence[Job],
    workers: int | None = None,
    desc: str = "",
) -> list[Result]:
    """``[fn(job) for job in jobs]`` in order, spread over ``workers`` processes."""
    if workers is not None and workers < 1:
        raise ProganError(f"--workers must be at least 1, got {workers}")
    workers = default_workers() if workers is None else workers
    workers = max(1, min(workers, len(jobs) // MIN_JOBS_PER_WORKER))
    bar = progress_bar(total=len(jobs), desc=desc, unit="img", leave=False, disable=not jobs)
    try:
        if workers == 1:
            results = []
            for job in jobs:
                results.append(fn(job))
                bar.update()
            return results
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers) as pool:
            results = []
            for result in pool.imap(fn, jobs, chunksize=1):
                results.append(result)
                bar.update()
            return results
    finally:
        bar.close()
