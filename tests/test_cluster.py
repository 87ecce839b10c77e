"""What the workers of one run decide together, on a cluster whose all-reduce is a stand-in:
each test gives the rows the other workers would send."""

import json
from pathlib import Path

import numpy as np
import pytest

from progan.cluster import Cluster, common_step, lost_workers, worker_lost
from progan.errors import ProganError


def two_workers(*answers: list[float]) -> tuple[Cluster, list]:
    """Worker 0 of two; each ``gather`` answers with its own row above the next of ``answers``
    (worker 1's rows), and records what it sent."""
    cluster, sent, rows = Cluster(None), [], iter(answers)
    cluster.workers, cluster.index, cluster.names = 2, 0, ["worker 0", "worker 1"]

    def gather(values):
        sent.append(list(values))
        return np.asarray([list(values), next(rows)], np.float64)

    cluster.gather = gather
    return cluster, sent


FIGURES = (32, 3, 12345, 40, 1)  # images, classes, class-name checksum, steps, resuming


def test_workers_restart_from_the_newest_step_all_of_them_hold():
    assert common_step([[16, 24, 32], [16, 24, 32]]) == 32
    assert common_step([[16, 24, 32], [8, 16, 24]]) == 24  # a kill during the save of 32
    with pytest.raises(ProganError, match="no common checkpoint .*worker 1: 8, 16"):
        common_step([[24, 32], [8, 16]])


def test_workers_that_agree_start():
    cluster, sent = two_workers([0.0], list(FIGURES))
    cluster.start_together(lambda: FIGURES)
    assert sent == [[0.0], list(FIGURES)]


@pytest.mark.parametrize("error", [ProganError("no data"), KeyboardInterrupt()])
def test_a_failing_set_up_is_reported_to_the_others_then_raised(error):
    cluster, sent = two_workers([0.0], list(FIGURES))

    def prepare():
        raise error

    with pytest.raises(type(error)):
        cluster.start_together(prepare)
    assert sent == [[1.0]]  # the all-reduce the others make after their own set-up


def test_the_others_name_the_worker_that_could_not_start():
    cluster, sent = two_workers([1.0])
    with pytest.raises(ProganError, match=r"^worker 1 could not start \(its own output says why\)"):
        cluster.start_together(lambda: FIGURES)
    assert sent == [[0.0]]


def test_a_checkpoint_one_worker_cannot_read_stops_them_all():
    cluster, _ = two_workers([1.0])
    with pytest.raises(ProganError, match="^worker 1 could not read its ckpt-48.npz"):
        cluster.unless_one_fails(lambda: {"a": 1}, "could not read its ckpt-48.npz")
    cluster, _ = two_workers([0.0])
    assert cluster.unless_one_fails(lambda: {"a": 1}, "could not read it") == {"a": 1}


@pytest.mark.parametrize(
    ("other", "seen"),
    [
        ((31, 3, 12345, 40, 1), "worker 1: 31 images, 3 classes, 40 steps, resuming"),
        (
            (32, 3, 999, 40, 1),
            "worker 1: 32 images, 3 classes, other class names, 40 steps, resuming",
        ),
        ((32, 3, 12345, 80, 1), "worker 1: 32 images, 3 classes, 80 steps, resuming"),
        ((32, 3, 12345, 40, 0), "worker 1: 32 images, 3 classes, 40 steps, a new run"),
    ],
)
def test_workers_that_would_train_different_runs_stop(other, seen):
    cluster, _ = two_workers([0.0], list(other))
    with pytest.raises(ProganError) as raised:
        cluster.start_together(lambda: FIGURES)
    assert str(raised.value) == (
        "the workers would not train the same run (worker 0: 32 images, 3 classes, 40 steps, "
        f"resuming; {seen}); give every worker the same data set and flags"
    )


def test_the_lost_worker_is_the_one_tensorflow_lists_as_unhealthy():
    message = (
        "Collective ops is aborted by: Error reported from /job:worker/task:0: The following "
        "tasks are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:2\n"
        "/job:chief/replica:0/task:0\nThe tasks have crashed. Check the task logs"
    )
    assert lost_workers(message) == "worker 2, chief"
    assert lost_workers("Socket closed") == "another worker"
    # a message that lists the live reporter beside the lost one (seen in CI, 2026-12-07)
    both = "aborted: /job:worker/replica:0/task:0 /job:worker/replica:0/task:1 unavailable"
    assert lost_workers(both, "worker 0") == "worker 1"


def test_a_lost_worker_is_one_line_with_the_way_on(tmp_path: Path):
    import tensorflow as tf

    lost = tf.errors.UnavailableError(None, None, "unhealthy:\n/job:worker/replica:0/task:1")
    with pytest.raises(ProganError) as raised, worker_lost("multiworker", str(tmp_path)):
        raise lost
    assert str(raised.value).endswith("with the command each was started with (nothing saved)")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ProganError) as raised, worker_lost("multiworker", str(tmp_path)):
        raise lost
    assert str(raised.value) == (
        "worker 1 of this run stopped answering; once it is back, start every worker again "
        f"with: python train.py --out {tmp_path} --resume"
    )
    with pytest.raises(tf.errors.UnavailableError), worker_lost("default", str(tmp_path)):
        raise lost  # one process: nothing to name


def test_the_worker_that_reports_a_loss_never_names_itself(tmp_path: Path, monkeypatch):
    import tensorflow as tf

    cluster = {"worker": ["localhost:1", "localhost:2"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    )
    both = tf.errors.AbortedError(
        None, None, "/job:worker/replica:0/task:0 /job:worker/replica:0/task:1 unavailable"
    )
    with pytest.raises(ProganError) as raised, worker_lost("multiworker", str(tmp_path)):
        raise both
    assert str(raised.value).startswith("worker 0 of this run stopped answering;")


def test_a_restore_takes_the_same_branch_on_every_worker():
    cluster, sent = two_workers([1.0])
    assert cluster.all_or_none(True, "old checkpoints") is True and sent == [[1.0]]
    cluster, _ = two_workers([1.0])
    with pytest.raises(ProganError, match="^old checkpoints on worker 1, not on the other workers"):
        cluster.all_or_none(False, "old checkpoints")
