"""Progressive training: set-up, then a loop over phases and their steps.

A run is a list of phases (:mod:`progan.schedule`: stage 0 stabilize; then for every further
stage a fade-in and a stabilize phase). The step is :mod:`progan.training_step`'s, saving and
resuming :mod:`progan.training_state`'s, what a finished phase leaves in the run folder
:mod:`progan.phase_report`'s; this module sets a run up and drives it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from keras import ops

from config import TrainConfig
from progan import backend, kinds, out_of_memory, run_checks, run_folder, training_step
from progan.cluster import STARTS, Cluster, make_strategy
from progan.data import BatchSpec, build_cache, open_source, step_batches, step_dataset
from progan.errors import ProganError
from progan.out_of_memory import advice_on_out_of_memory
from progan.phase_report import PhaseReport
from progan.progress import progress_bar
from progan.resolution import Shape, format_res, stage_index, stage_shapes
from progan.schedule import Phase, alpha_at, curriculum_plan, plan_phases
from progan.sources import source_labels
from progan.stopping import check_finite, stop_on_signals
from progan.training_state import Progress, TrainingState, start_from
from progan.training_step import Models

log = logging.getLogger(__name__)


class Trainer:
    """Owns the models, optimizers and progress of one run folder."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.strategy = make_strategy(cfg.strategy)
        self.cluster = Cluster(self.strategy)
        self.is_chief = self.cluster.is_chief
        # Every worker saves full checkpoints (saving is collective); samples, exports, metrics
        # and TensorBoard are the chief's.
        self.state = TrainingState(cfg, self.cluster)
        self.cluster.start_together(self._set_up)
        self.net = self.cfg.network  # with the data's classes in a conditional run
        # Color the data has none of is never learned: a 3-channel run of grey data starts its
        # color ends alike (a color model started so learned no color: chroma 0.2 against 8.5)
        color_blind = self.net.image_channels == 3 and self.cache.all_grey
        self.models: Models = training_step.build_models(
            self.cfg, self.net, self.num_stages, self.strategy, color_blind
        )
        self.report = PhaseReport(
            self.cfg,
            self.source,
            self.cache,
            self.shapes,
            self.kinds_shown,
            should_stop=lambda: self.stop_signal is not None,
        )
        self.stop_signal: int | None = None
        self.writer = None
        self.last_losses: dict[str, float] = {}
        # The losses of the most recent step (tensors), checked before every save.
        self.last_step: dict = {}
        if cfg.resume:
            self.progress, load_adam = self.state.restore(self.models)
            self._reopen_phase(load_adam)
        else:
            self.progress = Progress()
            if cfg.start_from:
                self.progress = start_from(Path(cfg.start_from), self.models, self.phases)
            index = min(self.progress.phase, len(self.phases) - 1)
            self.new_optimizers(self.phases[index])
            self._set_learning_rate(index)  # a --from into the final training: its chunk's rate

    # ----------------------------------------------------------------- set-up
    def _set_up(self) -> tuple[int, ...]:
        """This worker's checks, data and phases, everything before the first collective; the
        figures every worker must share: images, classes, their names' checksum, the steps of
        the whole schedule, how the run starts (see :meth:`Cluster.start_together`)."""
        cfg = self.cfg
        self.state.check_folder()
        self.num_stages = stage_index(cfg.network.base, cfg.max_res) + 1
        if self.num_stages > cfg.network.max_stages:
            raise ProganError(
                f"{format_res(cfg.max_res)} needs {self.num_stages} stages; the channel table has "
                f"{cfg.network.max_stages}"
            )
        self.shapes: list[Shape] = stage_shapes(cfg.network.base, self.num_stages)
        data_root = Path(cfg.data_root)
        self.source = open_source(cfg.data, data_root)
        self.cache = build_cache(self.source, self.shapes, data_root / "cache")
        self.labels = self._class_labels() if cfg.labels else None
        channels = run_checks.image_channels(cfg, self.cache, self.source.name)
        network = dataclasses.replace(self.cfg.network, image_channels=channels)
        self.cfg = dataclasses.replace(self.cfg, network=network)
        self.kinds_shown = self._kinds_shown()
        batch_sizes = cfg.schedule.batch_sizes[: self.num_stages]
        run_checks.check_data(self.cache, self.source.name, batch_sizes)
        if self.strategy is None and cfg.strategy == "mirrored":
            run_checks.check_jax_devices(self.shapes, batch_sizes)
        run_checks.check_mbstd_groups(
            self.shapes, batch_sizes, self.replicas, cfg.network.mbstd_group
        )
        self.phases = plan_phases(
            self.num_stages,
            self._phase_images(),
            round(cfg.schedule.final_kimg * 1000),
        )
        classes, batches = self.cfg.network.classes, cfg.schedule.batch_sizes
        return (
            len(self.cache),
            len(classes),
            zlib.crc32(",".join(classes).encode()),
            sum(-(-phase.images // batches[phase.stage]) for phase in self.phases),
            STARTS.index(
                "resuming" if cfg.resume else "from an export" if cfg.start_from else "a new run"
            ),
        )

    def _class_labels(self) -> np.ndarray:
        """The class index of every cached image; the class names go into the network config.

        A resumed run must see the classes it was started with: a label index means nothing
        once the list of names changes.
        """
        found = source_labels(self.source)
        saved = self.cfg.network.classes
        if saved and saved != found.classes:
            raise ProganError(
                f"{self.source.name} now has the classes {', '.join(found.classes)}; the run was "
                f"trained on {', '.join(saved)} (restore its labels or start a new run)"
            )
        labels = found.indices[self.cache.kept]
        counts = np.bincount(labels, minlength=len(found.classes))
        empty = [name for name, n in zip(found.classes, counts, strict=True) if n == 0]
        if empty:
            raise ProganError(
                f"class {', '.join(empty)} of {self.source.name} has no readable image; "
                "add images of it or drop it from the labels"
            )
        log.info(
            "class-balanced batches over %s",
            ", ".join(f"{name} ({n})" for name, n in zip(found.classes, counts, strict=True)),
        )
        network = dataclasses.replace(self.cfg.network, classes=found.classes)
        self.cfg = dataclasses.replace(self.cfg, network=network)
        return labels

    def _kinds_shown(self) -> np.ndarray | None:
        """What each photo shows, on the laundry sets: phase ends from the kind classifier's
        stage up also report what it sees in the samples (progan/kinds.py). A laundry folder
        that has become something else trains on without them."""
        if not self.cfg.eval_images:
            return None
        try:
            return kinds.kinds_of_source(self.source)
        except ProganError as err:
            log.warning("no kind figures at phase ends: %s", err)
            return None

    def _phase_images(self) -> int:
        schedule = self.cfg.schedule
        if schedule.epochs_per_res is not None:
            return max(1, round(schedule.epochs_per_res * len(self.cache) / 2))
        return max(1, round(schedule.kimg_per_phase * 1000))

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    # ----------------------------------------------------------------- the loop
    def train(self) -> Path:
        """Run every remaining phase; returns the export folder."""
        if self.is_chief:
            run_folder.write_config(self.run_dir, self.cfg.to_dict())
        if not self.cfg.resume:
            self.save()
        self.writer = (
            backend.tensorboard_writer(str(self.run_dir / run_folder.TENSORBOARD))
            if self.is_chief
            else None
        )
        try:
            with stop_on_signals(self):
                while self.progress.phase < len(self.phases):
                    index = self.progress.phase
                    if not self._run_phase(self.phases[index]):
                        raise KeyboardInterrupt(f"stopped; saved {self.save()}")
                    with advice_on_out_of_memory(
                        lambda: out_of_memory.without_evaluation(self.cfg)
                    ):
                        self._end_phase(index)
        finally:
            if self.writer is not None:
                self.writer.close()
        return self.run_dir / run_folder.EXPORT

    def _run_phase(self, phase: Phase) -> bool:
        """Train ``phase`` to its end; False when a stop was requested first (after a save)."""
        cfg = self.cfg
        batch_size = cfg.schedule.batch_sizes[phase.stage]
        per_step = batch_size * cfg.schedule.n_critic
        progress = self.progress
        shown = progress.phase_images
        steps = math.ceil(max(0, phase.images - shown) / per_step)
        shape = self.shapes[phase.stage]
        dataset = self.phase_dataset(phase.stage, progress.images_shown, steps)
        steps_by_kind: dict[bool, object] = {}

        def step_for(shown_before: int):
            """The compiled step for this point of the phase (with or without lazy R1)."""
            lazy = cfg.loss.kind == "logistic-r1"
            regularize = not lazy or (shown_before // per_step) % cfg.loss.r1_every == 0
            if regularize not in steps_by_kind:
                steps_by_kind[regularize] = self.make_step(phase, batch_size, regularize, steps)
            return steps_by_kind[regularize]

        bar = progress_bar(
            total=phase.images,
            initial=min(shown, phase.images),
            unit="img",
            unit_scale=True,
            desc=f"{format_res(shape)} {phase.name}",
        )
        last_save, last_log, logged_images = time.monotonic(), time.monotonic(), shown
        tick = time.monotonic()
        with bar, advice_on_out_of_memory(lambda: self._smaller_batches(phase)):
            for k, batch in enumerate(dataset, start=1):
                alpha = alpha_at(phase, shown)
                metrics = step_for(shown)(batch, ops.convert_to_tensor(alpha, "float32"))
                self.last_step = metrics
                shown += per_step
                progress.train_seconds += time.monotonic() - tick
                tick = time.monotonic()
                progress.phase_images = shown
                progress.images_shown += per_step
                progress.alpha = alpha_at(phase, shown)
                bar.update(min(shown, phase.images) - bar.n)
                if k % cfg.log_every_steps == 0 or k == steps:
                    values = {name: float(v) for name, v in metrics.items()}
                    check_finite(values, f"{progress.images_shown} images", self.state.ckpt_dir)
                    now = time.monotonic()
                    rate = (shown - logged_images) / max(now - last_log, 1e-9)
                    last_log, logged_images = now, shown
                    self._log_scalars(phase, values, rate)
                    bar.set_postfix(
                        alpha=f"{alpha_at(phase, shown):.3f}",
                        d=f"{values['d_loss']:.3f}",
                        g=f"{values['g_loss']:.3f}",
                        refresh=False,
                    )
                    self.last_losses = values
                stop, save = self.cluster.agree(
                    self.stop_signal is not None,
                    time.monotonic() - last_save > cfg.save_every_min * 60,
                )
                if stop:  # every worker stops after this same step, then saves it
                    self.stop_signal = self.stop_signal or signal.SIGINT
                    return False
                if save:
                    self.save()
                    last_save = time.monotonic()
        return self.stop_signal is None

    def _smaller_batches(self, phase: Phase) -> str:
        """The advice of a step that did not fit: the batch this run can split in groups of 2
        over its replicas (or, under JAX, its devices)."""
        unit = 2 * self.replicas
        if self.strategy is None and self.cfg.strategy == "mirrored":  # JAX shards the batch
            import jax

            unit = math.lcm(2, jax.local_device_count())
        shape = self.shapes[phase.stage]
        return out_of_memory.smaller_batches(self.cfg, phase, shape, unit, self.cluster.workers)

    def _log_scalars(self, phase: Phase, values: dict[str, float], rate: float) -> None:
        if self.writer is None:
            return
        scalars = {f"loss/{name}": value for name, value in values.items()}
        scalars |= {
            "progress/alpha": self.progress.alpha,
            "progress/stage": phase.stage,
            "progress/images_per_s": rate,
            "progress/train_hours": self.progress.train_seconds / 3600,
            "progress/learning_rate": training_step.learning_rate(
                self.cfg, self.phases, self.progress.phase
            ),
        }
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step=self.progress.images_shown)
        self.writer.flush()

    def _end_phase(self, index: int) -> None:
        """Report the finished phase, then move on with fresh Adam state, and save."""
        if self.is_chief:
            self.report.phase_end(
                index, self.phases[index], self.models, self.progress, self.last_losses, self.writer
            )
        self.progress.phase, self.progress.phase_images = index + 1, 0
        if index + 1 < len(self.phases):
            if self.phases[index + 1].final:  # Adam carries on into the final training
                self._set_learning_rate(index + 1)
            else:
                self.new_optimizers(self.phases[index + 1])
            self.progress.alpha = alpha_at(self.phases[index + 1], 0)
        self.save()

    def save(self) -> str:
        """A checkpoint of this worker (all of them save together), and on the chief the
        ``latest/`` export of it."""
        path = self.state.save(self.models, self.progress, self.last_step)
        if self.is_chief:
            phase = self.phases[min(self.progress.phase, len(self.phases) - 1)]
            self.report.write_latest(self.models.G_ema, phase, self.progress)
        return str(path)

    # ----------------------------------------------------------------- optimizers
    def new_optimizers(self, phase: Phase) -> None:
        training_step.new_optimizers(self.models, self.cfg, phase)

    def _set_learning_rate(self, index: int) -> None:
        rate = training_step.learning_rate(self.cfg, self.phases, index)
        training_step.set_learning_rate(self.models, self.cfg, rate)

    def _reopen_phase(self, load_adam: Callable[[Models], None]) -> None:
        """Fresh Adam for the restored phase, then its saved state when the checkpoint was
        taken mid-phase or in final training (where Adam carries on)."""
        index = self.progress.phase
        if index < len(self.phases):
            self.new_optimizers(self.phases[index])
            if self.progress.phase_images > 0 or self.phases[index].final:
                load_adam(self.models)
                # Adam saves its learning rate with its moments; the settings' one wins, so
                # --lr on --resume takes effect.
                self._set_learning_rate(index)

    # ----------------------------------------------------------------- the step
    def make_step(self, phase: Phase, batch_size: int, regularize: bool = True, steps: int = 0):
        """The compiled step of ``phase`` (see :func:`progan.training_step.make_step`)."""
        where = f"{format_res(self.shapes[phase.stage])} {phase.name}"
        return training_step.make_step(
            self.models, self.cfg, phase, batch_size, regularize, steps, where
        )

    def phase_dataset(self, stage: int, start: int, steps: int):
        """The batches of ``steps`` steps at ``stage`` from image count ``start``: a distributed
        tf.data pipeline under TensorFlow, NumPy batches under JAX."""
        cfg = self.cfg
        shape = self.shapes[stage]
        end = start + steps * cfg.schedule.batch_sizes[stage] * cfg.schedule.n_critic
        plan = curriculum_plan(cfg.color_curriculum, sum(p.images for p in self.phases))
        # The curriculum steps this phase touches: each quantized once per stage and K, cached.
        touched = [
            (first, k)
            for (first, k), (following, _) in zip(plan, [*plan[1:], (end + 1, None)], strict=True)
            if first < end and following > start
        ]
        curriculum = (
            tuple(
                (first, self.cache.arrays[shape] if k is None else self.cache.quantized(shape, k))
                for first, k in touched
            )
            if cfg.color_curriculum
            else ()
        )
        spec = BatchSpec(
            images=self.cache.images(shape, self.net.image_channels),
            batch_size=cfg.schedule.batch_sizes[stage],
            n_critic=cfg.schedule.n_critic,
            latent_dim=self.net.latent_dim,
            seed=cfg.seed,
            flip=cfg.flip,
            labels=self.labels,
            num_classes=self.net.num_classes,
            augment=bool(cfg.augment),
            curriculum=curriculum,
        )
        if self.strategy is None:
            return step_batches(spec, start, steps)
        return self.strategy.distribute_datasets_from_function(
            lambda context: step_dataset(spec, start, steps, context)
        )
