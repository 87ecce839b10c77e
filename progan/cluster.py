"""The processes of one run, and the decisions they must take together.

Under ``MultiWorkerMirroredStrategy`` every step is an all-reduce that each worker must join.
A worker that decides alone to stop (its own Ctrl-C) or to save (its own clock) leaves the
others waiting in that all-reduce forever, or saves a step they do not. So stop and save are
wishes that every worker reports at every step and all act on when any has it, and a restart
restores every worker from the newest step that all of them hold. The same goes for starting:
a worker whose set-up fails (its data folder not mounted, its --out not the shared one) tells
the others before it stops, and a worker that dies later is named to the ones left, each in one
line. With one process (the default or the mirrored strategy) every decision is already the only
one, and nothing is sent.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np

from progan import backend, run_folder
from progan.cli import resume_command
from progan.errors import ProganError

STRATEGIES = ("default", "mirrored", "multiworker")
# How a worker starts, among the figures it reports (Cluster.start_together).
STARTS = ("a new run", "resuming", "from an export")
T = TypeVar("T")


def make_strategy(name: str):
    """The ``tf.distribute`` strategy of a TensorFlow run (None under JAX, which splits a batch
    over its local devices by sharding instead; see :func:`progan.backend.compile_step`).

    ``mirrored`` uses every GPU, or every logical CPU device when there is no GPU.
    """
    if name not in STRATEGIES:
        raise ProganError(f"unknown strategy {name!r}; choose default, mirrored or multiworker")
    if backend.name() == "jax":
        if name == "multiworker":
            raise ProganError(
                "--strategy multiworker is TensorFlow's (tf.distribute); under JAX use "
                "--strategy mirrored for the devices of one machine"
            )
        return None
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.MultiWorkerMirroredStrategy()


def common_step(steps_by_worker: Sequence[Sequence[int]]) -> int:
    """The newest checkpoint step that every worker holds.

    Saves are agreed, so workers hold the same steps, except that a crash during a save can
    leave the newest one on some workers only; then they all go back one save.
    """
    shared = set(steps_by_worker[0]).intersection(*map(set, steps_by_worker[1:]))
    if not shared:
        held = "; ".join(
            f"worker {i}: {', '.join(map(str, steps)) or 'none'}"
            for i, steps in enumerate(steps_by_worker)
        )
        raise ProganError(
            f"the workers hold no common checkpoint ({held}); give every worker a copy of the "
            "chief's checkpoints folder, or start a new run"
        )
    return max(shared)


@contextlib.contextmanager
def worker_lost(strategy: str, run: str) -> Iterator[None]:
    """Turn TensorFlow's "peer unavailable" errors of a multiworker run into one line that
    names the worker that stopped and says how to go on (the agreed saves make a resume safe
    once the run has saved; before that, the run starts over)."""
    if strategy != "multiworker" or backend.name() != "tensorflow":
        yield
        return
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError) as err:
        # The resolver the strategy reads: this process's own task, which caught the error.
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        me = task_name(resolver.task_type or "worker", resolver.task_id or 0)
        how = (
            f"with: {resume_command(run)}"
            if run_folder.has_config(run)
            else "with the command each was started with (nothing saved)"
        )
        raise ProganError(
            f"{lost_workers(err.message, me)} of this run stopped answering; once it is back, "
            f"start every worker again {how}"
        ) from None


def lost_workers(message: str, me: str = "") -> str:
    """The workers TensorFlow's error names as down, as TF_CONFIG names them ("worker 1").

    The tasks listed after "unhealthy" are the ones down; the message also names the task
    that reported it, which may be alive, and some messages list it among the others: ``me``,
    the worker that caught the error, is alive and never named."""
    listed = message.split("unhealthy", 1)[-1]
    tasks = dict.fromkeys(re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", listed))
    names = [task_name(job, int(task)) for job, task in tasks]
    return ", ".join(name for name in names if name != me) or "another worker"


def task_name(task_type: str, task_id: int) -> str:
    """A task as TF_CONFIG names it, the way every message of a run names workers."""
    return "chief" if task_type == "chief" else f"{task_type} {task_id}"


class Cluster:
    """This process's place in the run (chief or not, index among the workers) and the
    collectives the trainer needs: starting together, agreeing on wishes, gathering numbers."""

    def __init__(self, strategy) -> None:
        self.strategy = strategy
        resolver = getattr(strategy, "cluster_resolver", None)
        if resolver is None or not resolver.task_type:
            self.workers, self.index, self.is_chief, self.task_id = 1, 0, True, 0
            return
        spec = resolver.cluster_spec().as_dict()
        chiefs = len(spec.get("chief", []))
        self.workers = chiefs + len(spec.get("worker", []))
        # As TF_CONFIG names them, in the order of ``index``.
        self.names = [task_name("chief", 0)] * chiefs + [
            task_name("worker", i) for i in range(self.workers - chiefs)
        ]
        self.task_id = resolver.task_id or 0
        if resolver.task_type == "chief":
            self.index, self.is_chief = 0, True
        else:
            self.index = chiefs + self.task_id
            self.is_chief = not chiefs and self.task_id == 0
        import tensorflow as tf

        self._sum = tf.function(
            lambda x: strategy.reduce(
                tf.distribute.ReduceOp.SUM, strategy.run(tf.identity, args=(x,)), axis=None
            )
        )

    def gather(self, values: Sequence[float]) -> np.ndarray:
        """``workers × len(values)``: every worker's ``values`` (a sum of one-hot rows, since
        all-reduce knows only sums and means)."""
        if self.workers == 1:
            return np.asarray([values], dtype=np.float64)
        rows = np.zeros((self.workers, len(values)), np.float64)
        rows[self.index] = values
        # Each worker's replicas all contribute the same rows; divide that count back out.
        replicas = self.strategy.num_replicas_in_sync // self.workers
        return self._sum(rows).numpy() / replicas

    def unless_one_fails(self, action: Callable[[], T], what: str) -> T:
        """Run this worker's ``action`` (which must send nothing), then stop every worker if any
        one's failed: the failing one with its own error, the others naming it ("worker 1
        WHAT"), instead of leaving them to wait for it in their next all-reduce."""
        try:
            result = action()
        except BaseException:
            with contextlib.suppress(Exception):  # the worker's own error is the one to show
                self.gather([1.0])
            raise
        failed = np.flatnonzero(self.gather([0.0])[:, 0])
        if failed.size:
            names = ", ".join(self.names[i] for i in failed)
            raise ProganError(f"{names} {what} (its own output says why); this one stops too")
        return result

    def start_together(self, prepare: Callable[[], Sequence[float]]) -> None:
        """Run every worker's set-up and stop them all if one's failed or if they would not train
        the same run, rather than pair up collectives of different steps. ``prepare`` returns
        what every worker must share: images, classes, a checksum of the class names, the steps
        of the whole schedule, how it starts (an index of :data:`STARTS`)."""
        figures = self.unless_one_fails(prepare, "could not start")
        rows = self.gather([float(x) for x in figures])
        differ = [i for i in range(self.workers) if not np.array_equal(rows[i], rows[0])]
        if differ:
            seen = "; ".join(self._start_figures(rows, i) for i in (0, *differ))
            raise ProganError(
                f"the workers would not train the same run ({seen}); give every worker the same "
                "data set and flags"
            )

    def _start_figures(self, rows: np.ndarray, index: int) -> str:
        images, classes, names, schedule, start = (int(x) for x in rows[index])
        other = ", other class names" if index and names != int(rows[0, 2]) else ""
        return (
            f"{self.names[index]}: {images} images, {classes} classes{other}, {schedule} steps, "
            f"{STARTS[start]}"
        )

    def all_or_none(self, flag: bool, what: str) -> bool:
        """``flag``, checked to be every worker's: a restore that branches on a worker's own
        files must take the same branch everywhere, or their collectives stop pairing up."""
        flags = self.gather([float(flag)])[:, 0]
        if flags.min() != flags.max():
            having = ", ".join(self.names[i] for i in np.flatnonzero(flags))
            raise ProganError(
                f"{what} on {having}, not on the other workers; give every worker a copy of the "
                "chief's checkpoints folder"
            )
        return flag

    def agree(self, *wishes: bool) -> list[bool]:
        """Each wish, true for all when any worker has it."""
        if self.workers == 1:
            return list(wishes)
        return [bool(x) for x in self.gather([float(w) for w in wishes]).max(axis=0) > 0]
