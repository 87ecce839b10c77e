"""Save, restore and ``--from``: a run's state on disk, and what the workers agree on about it.

A run's position is five counters (:class:`Progress`) saved in every checkpoint beside G, D,
the EMA G and Adam; alpha and every random draw are functions of them, so ``--resume``
continues the same stream, mid fade-in included. On a cluster every worker saves (saving is
collective) but only the chief's checkpoints are the run's; a resume loads the newest step that
every worker holds, or fails on all of them together.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from config import TrainConfig
from progan import backend, checkpoints, export, run_folder, widen
from progan.cluster import Cluster, common_step
from progan.errors import ProganError
from progan.schedule import Phase, alpha_at
from progan.stopping import check_finite
from progan.training_step import Models, stage_ids

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Progress:
    """Where a run stands: the phase, images shown in it and in all, alpha, training time
    (wall-clock seconds spent training, summed over every resume)."""

    phase: int = 0
    phase_images: int = 0
    images_shown: int = 0
    alpha: float = 0.0
    train_seconds: float = 0.0

    def arrays(self) -> dict[str, np.ndarray]:
        """The counters as a checkpoint stores them."""
        kinds = {"alpha": np.float32, "train_seconds": np.float64}
        return {
            f"counters/{field.name}": kinds.get(field.name, np.int64)(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }

    @classmethod
    def from_arrays(cls, arrays: dict) -> Progress:
        types = {"int": int, "float": float}
        return cls(
            **{
                field.name: types[field.type](arrays[f"counters/{field.name}"])
                for field in dataclasses.fields(cls)
            }
        )


def model_variables(models: Models) -> dict:
    """G, D and the EMA G by checkpoint key."""
    named = (("generator", models.G), ("discriminator", models.D), ("generator_ema", models.G_ema))
    return {f"{prefix}/{v.path}": v for prefix, model in named for v in model.weights}


def optimizer_variables(models: Models) -> dict:
    return checkpoints.optimizer_variables({"g_opt": models.g_opt, "d_opt": models.d_opt})


class TrainingState:
    """The checkpoints of one worker of a run folder."""

    def __init__(self, cfg: TrainConfig, cluster: Cluster) -> None:
        self.cfg = cfg
        self.cluster = cluster
        self.run_dir = Path(cfg.out)
        # Workers other than the chief save to a folder of their own, so that workers sharing
        # a disk never write the same files.
        worker = str(cluster.task_id)
        own = self.run_dir if cluster.is_chief else self.run_dir / run_folder.WORKERS / worker
        self.ckpt_dir = own / run_folder.CHECKPOINTS

    def check_folder(self) -> None:
        """A resume needs a checkpoint and a new run refuses a folder that holds one."""
        has_checkpoint = bool(checkpoints.steps(self.ckpt_dir)) or checkpoints.has_legacy(
            self.ckpt_dir
        )
        if self.cfg.resume and not has_checkpoint:
            where = self.run_dir if self.cluster.is_chief else self.ckpt_dir
            raise ProganError(
                f"nothing to resume in {where}: it has no checkpoint"
                + ("" if self.cluster.is_chief else " (every worker needs --out on a shared disk)")
            )
        if not self.cfg.resume and has_checkpoint:
            raise ProganError(
                f"{self.run_dir} already holds a run; add --resume to continue it "
                "or pick another --out"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def save(self, models: Models, progress: Progress, last_step: dict) -> Path:
        """Write a checkpoint of a run that is still finite, so the last one kept is good.

        The last step's losses and every weight of G and D are checked first: a NaN that
        appeared since the last log stops the run here instead of overwriting good state.
        """
        where = f"{progress.images_shown} images"
        check_finite({name: float(v) for name, v in last_step.items()}, where, self.ckpt_dir)
        finite = {v.path: float(np.isfinite(v.numpy()).all() or np.nan) for v in models.weights}
        check_finite(finite, where, self.ckpt_dir)
        arrays = {key: v.numpy() for key, v in model_variables(models).items()}
        arrays |= {key: v.numpy() for key, v in optimizer_variables(models).items()}
        arrays |= progress.arrays()
        return checkpoints.save(
            self.ckpt_dir, progress.images_shown, arrays, keep=self.cfg.keep_checkpoints
        )

    def restore(self, models: Models) -> tuple[Progress, Callable[[Models], None]]:
        """The newest checkpoint every worker holds: models loaded, its progress, and how to
        load its Adam state into the optimizers made for the restored phase."""
        legacy = not checkpoints.steps(self.ckpt_dir)
        if self.cluster.all_or_none(legacy, "only checkpoints of an earlier version"):
            return self._restore_tensorflow_checkpoint(models)
        path = checkpoints.path_for(self.ckpt_dir, self._common_checkpoint())
        arrays = self.cluster.unless_one_fails(
            lambda: checkpoints.load(path), f"could not read its {path.name}"
        )
        # A run resumed with a higher --max-res has stages the checkpoint lacks: they keep
        # their fresh initialisation.
        for key, variable in model_variables(models).items():
            if key in arrays:
                variable.assign(arrays[key])
        progress = Progress.from_arrays(arrays)
        if self.cluster.is_chief:  # phase ends after the checkpoint will be logged again
            run_folder.trim_log(
                self.run_dir, lambda r: round(r.get("kimg", 0) * 1000) <= progress.images_shown
            )

        def load_adam(models: Models) -> None:
            for key, variable in optimizer_variables(models).items():
                variable.assign(arrays[key])

        log.info("resumed %s at %s, %d images shown", self.run_dir, path, progress.images_shown)
        return progress, load_adam

    def _restore_tensorflow_checkpoint(
        self, models: Models
    ) -> tuple[Progress, Callable[[Models], None]]:
        """A run saved by a version before the ``.npz`` checkpoints, in TensorFlow's format.

        It is read under TensorFlow; its next save is in the format both backends read.
        """
        if backend.name() != "tensorflow":
            raise ProganError(
                f"{self.ckpt_dir} holds a TensorFlow checkpoint of an earlier version; resume it "
                "once under TensorFlow, which saves it in the format every backend reads"
            )
        import tensorflow as tf

        def by_path(model) -> dict:  # the names TensorFlow checkpoints gave variables
            return {v.path.replace("/", "."): v for v in model.weights}

        path = tf.train.latest_checkpoint(str(self.ckpt_dir))
        counters = {
            key.removeprefix("counters/"): tf.Variable(value)
            for key, value in Progress().arrays().items()
        }
        saved = tf.train.Checkpoint(
            generator=by_path(models.G),
            discriminator=by_path(models.D),
            generator_ema=by_path(models.G_ema),
            **counters,
        )
        tf.train.Checkpoint(models=saved).restore(path).expect_partial()
        progress = Progress.from_arrays({f"counters/{k}": v.numpy() for k, v in counters.items()})

        def load_adam(models: Models) -> None:
            optimizers = tf.train.Checkpoint(g_opt=models.g_opt, d_opt=models.d_opt)
            tf.train.Checkpoint(optimizers=optimizers).restore(path).expect_partial()

        log.info("resumed %s at %s, %d images shown", self.run_dir, path, progress.images_shown)
        return progress, load_adam

    def _common_checkpoint(self) -> int:
        """The newest checkpoint step that every worker holds."""
        keep = self.cfg.keep_checkpoints
        newest = checkpoints.steps(self.ckpt_dir)[-keep:]
        # Every worker sends as many numbers (its newest steps, -1 for none); steps are image
        # counts, far inside float64's exact range.
        everyone = self.cluster.gather(newest + [-1] * (keep - len(newest)))
        return common_step([[int(s) for s in row if s >= 0] for row in everyone])


def start_from(folder: Path, models: Models, phases: list[Phase]) -> Progress:
    """Take the weights and counters of an export's phase end (``train.py --from``).

    G and D come from its training state, the EMA G from its weights (stages the export has not
    reached keep their fresh initialisation; stages ``--channels`` widened are widened by
    ``progan.widen``, computing what they computed); Adam starts afresh, as it does at every
    phase start anyway.
    """
    meta = json.loads((folder / export.MODEL_JSON).read_text())
    progress = meta.get("training") or {}
    state = export.read_training_state(folder)
    with np.load(folder / export.WEIGHTS) as archive:
        ema = {f"generator/{key}": array for key, array in archive.items()}
    # A run set up for a higher --max-res saves its stages above the export's, untrained;
    # those are this run's to initialise (and --channels may have widened them).
    reached, num_stages = int(meta["stages"]), models.G.num_stages
    unreached = set().union(
        *(
            stage_ids(model, range(reached, num_stages)) - stage_ids(model, range(reached))
            for model in (models.G, models.D, models.G_ema)
        )
    )
    # (stored key, variable, archive); a variable's key also seeds its widening, so the live
    # and the EMA generator are split alike
    targets = [(f"generator/{v.path}", v, state) for v in models.G.weights]
    targets += [(f"discriminator/{v.path}", v, state) for v in models.D.weights]
    targets += [(f"generator/{v.path}", v, ema) for v in models.G_ema.weights]
    widened = tuple(meta["network"]["channels"][:reached]) != models.G.net.channels[:reached]
    for key, variable, arrays in targets:
        if key not in arrays or id(variable) in unreached:
            continue
        saved, shape = arrays[key], tuple(variable.shape)
        if saved.shape != shape:
            if not widened:
                raise ProganError(
                    f"{folder}: {key} is {saved.shape}, this run's network needs {shape}; "
                    "--from keeps the export's network settings"
                )
            saved = widen.widen(key, saved, shape)
        variable.assign(saved.astype(np.float32))
    if "phases_done" not in progress:
        raise ProganError(f"{folder}/{export.MODEL_JSON} does not say where training stopped")
    done = progress["phases_done"]
    # Final training at the export's top stage is done once the run grows past it: the next
    # phase is the fade-in of the stage above (phase 2·stages − 1).
    if num_stages > reached:
        done = min(done, 2 * reached - 1)
    if done >= len(phases):
        trained = progress.get("config", {}).get("schedule", {}).get("final_kimg", 0)
        raise ProganError(
            f"{folder} is {done} phases into its training, past the {len(phases)} of this run: "
            f"raise --final-kimg (kimg at the top stage after its stabilize phase, in all; the "
            f"export's run had {trained:g}) to train on"
        )
    log.info("starting from %s at %d images shown", folder, int(progress["images_shown"]))
    return Progress(
        phase=int(done),
        images_shown=int(progress["images_shown"]),
        train_seconds=float(progress["train_seconds"]),
        alpha=alpha_at(phases[done], 0),
    )
