"""Progressive training: one training step, EMA, checkpoints and resume.

A run is a list of phases (:mod:`progan.schedule`: stage 0 stabilize; then for every further
stage a fade-in and a stabilize phase). Its position is three counters — phase, images shown in
the phase, images shown in all — saved in every checkpoint; alpha and every random draw are
functions of them, so ``--resume`` continues the same stream, mid fade-in included. The step is
written once with ``keras.ops``; :mod:`progan.backend` takes its gradients and compiles it under
TensorFlow or JAX.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import signal
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import keras
import numpy as np
from keras import ops

from config import MIXED_PRECISION_MODES, TrainConfig
from progan import backend, checkpoints, export, files, kinds, run_folder, widen
from progan.augment import augment
from progan.cli import resume_command
from progan.cluster import STARTS, Cluster, common_step, make_strategy
from progan.data import BatchSpec, build_cache, open_source, step_batches, step_dataset
from progan.discriminator import Discriminator
from progan.errors import ProganError
from progan.export import to_uint8
from progan.generator import Generator
from progan.latent import image_grid, seed_latents
from progan.layers import downsample2x, fade, mbstd_group, upsample2x
from progan.losses import critic_terms, generator_terms
from progan.metrics import evaluate, sample_reals
from progan.progress import progress_bar
from progan.resolution import Shape, format_res, stage_index, stage_shapes
from progan.schedule import Phase, alpha_at, curriculum_plan, ema_beta, plan_phases
from progan.sources import source_labels

log = logging.getLogger(__name__)
# jit="auto": a phase of fewer steps keeps the plain step (a second compilation would not pay);
# a longer one times each candidate on this many steps after its first.
AUTO_JIT_MIN_STEPS = 200
AUTO_JIT_TRIALS = 5

# Of evaluate's kind figures, those that say how a run is going (the shares are for a reader).
PHASE_END_KIND_FIGURES = ("kind_fd", "kind_fd_floor", "kind_certainty", "kind_certainty_data")


class TrainingDiverged(ProganError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def faded_reals(reals, alpha, fading: bool):
    """The reals a critic step sees: during a fade-in they blend from the previous stage's
    resolution (2×2 averaged, then doubled) to full detail with the same alpha as G's output,
    so D never tells real from fake by sharpness alone (the official code's lod blend)."""
    if not fading:
        return reals
    return fade(upsample2x(downsample2x(reals)), reals, alpha)


def cpu_has_native_bf16() -> bool:
    """True on a CPU whose flags include bfloat16 arithmetic (AMX or AVX512_BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_mixed_precision(mode: str) -> str:
    """The precision a run trains in: ``auto`` is bf16 where the CPU computes it natively,
    since the budget benchmark (docs/quality_budget.md) measured the same SWD there at twice
    the images/s, and float32 elsewhere: a CPU without it runs bf16 on a slow path, and on GPUs
    the choice is unmeasured, so it is left to the flag."""
    if mode not in MIXED_PRECISION_MODES:
        raise ProganError(f"--mixed-precision must be one of {', '.join(MIXED_PRECISION_MODES)}")
    if mode != "auto":
        return mode
    return "bf16" if not backend.has_gpu() and cpu_has_native_bf16() else "off"


def by_path(model: keras.Model) -> dict:
    """A model's variables keyed as the TensorFlow checkpoints of earlier versions named them."""
    return {v.path.replace("/", "."): v for v in model.weights}


class Trainer:
    """Owns the models, optimizers and counters of one run folder."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.strategy = make_strategy(cfg.strategy)
        self.cluster = Cluster(self.strategy)
        # Where the run stands (saved in every checkpoint; see the module docstring).
        self.phase_index = 0
        self.phase_shown = 0
        self.images_shown = 0
        self.alpha = 0.0
        # Wall-clock seconds spent training, summed over every resume of the run.
        self.train_seconds = 0.0
        self.is_chief, worker = self.cluster.is_chief, self.cluster.task_id
        # Every worker saves full checkpoints (saving is collective); only the chief's are the
        # run's, the others go to a folder of their own so that workers sharing a disk never
        # write the same files. Samples, exports, metrics and TensorBoard are the chief's.
        own = self.run_dir if self.is_chief else self.run_dir / run_folder.WORKERS / str(worker)
        self.ckpt_dir = own / run_folder.CHECKPOINTS
        self.cluster.start_together(self._set_up)
        self.net = self.cfg.network  # with the data's classes in a conditional run
        self._build_models()
        self.stop_signal: int | None = None
        self.writer = None
        self.last_losses: dict[str, float] = {}
        # The losses of the most recent step (tensors), checked before every save.
        self.last_step: dict = {}
        if cfg.resume:
            self.restore()
        else:
            if cfg.start_from:
                self.start_from(Path(cfg.start_from))
            index = min(self._phase(), len(self.phases) - 1)
            self.new_optimizers(self.phases[index])
            self._set_learning_rate(index)  # a --from into the final training: its chunk's rate

    # ----------------------------------------------------------------- set-up
    def _set_up(self) -> tuple[int, ...]:
        """This worker's checks, data and phases, everything before the first collective; the
        figures every worker must share: images, classes, their names' checksum, the steps of
        the whole schedule, how the run starts (see :meth:`Cluster.start_together`)."""
        cfg = self.cfg
        self._check_run_folder()
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
        self.kinds_shown = self._kinds_shown()
        self._check_data()
        self._check_mbstd_groups()
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

    def _check_run_folder(self) -> None:
        has_checkpoint = bool(checkpoints.steps(self.ckpt_dir)) or checkpoints.has_legacy(
            self.ckpt_dir
        )
        if self.cfg.resume and not has_checkpoint:
            where = self.run_dir if self.is_chief else self.ckpt_dir  # a worker's own folder
            raise ProganError(
                f"nothing to resume in {where}: it has no checkpoint"
                + ("" if self.is_chief else " (every worker needs --out on a shared disk)")
            )
        if not self.cfg.resume and has_checkpoint:
            raise ProganError(
                f"{self.run_dir} already holds a run; add --resume to continue it "
                "or pick another --out"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def _check_data(self) -> None:
        count = len(self.cache)
        largest = max(self.cfg.schedule.batch_sizes[: self.num_stages])
        if count < largest:
            raise ProganError(
                f"{self.source.name} has {count} readable images, fewer than one batch ({largest});"
                " add images or lower the batch size"
            )
        if self.cache.skipped:
            log.warning("%s: %d unreadable files skipped", self.source.name, self.cache.skipped)

    def _check_mbstd_groups(self) -> None:
        """Minibatch stddev groups come from each replica's batch: never below 2 (the feature
        would be a constant), and a smaller group than configured is said once. (Under JAX the
        step sees the whole batch even when it is sharded over devices.)"""
        replicas = self.replicas
        if self.strategy is None and self.cfg.strategy == "mirrored":
            self._check_jax_devices()
        wanted = self.cfg.network.mbstd_group
        smaller = []
        for stage, shape in enumerate(self.shapes):
            per_replica = self.cfg.schedule.batch_sizes[stage] // replicas
            group = mbstd_group(per_replica, wanted)
            if group < 2 <= wanted:
                raise ProganError(
                    f"at {format_res(shape)} each of the {replicas} replicas gets {per_replica} "
                    f"images, which minibatch stddev cannot split into groups of 2 or more; give "
                    f"--batch-sizes a multiple of {wanted * replicas} for that stage"
                )
            if group < wanted:
                smaller.append(f"{format_res(shape)}: {group}")
        if smaller:
            log.warning(
                "minibatch stddev uses groups smaller than %d (per-replica batch not a multiple "
                "of it): %s",
                wanted,
                ", ".join(smaller),
            )

    def _check_jax_devices(self) -> None:
        import jax

        devices = jax.local_device_count()
        uneven = [
            format_res(shape)
            for stage, shape in enumerate(self.shapes)
            if self.cfg.schedule.batch_sizes[stage] % devices
        ]
        if uneven:
            raise ProganError(
                f"the batch at {', '.join(uneven)} does not split over the {devices} local "
                "devices; give --batch-sizes multiples of the device count"
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

    def _labels_for(self, count: int) -> np.ndarray | None:
        """Labels for ``count`` generated images: every class in turn (None when unconditional),
        so grids and phase-end evaluations show the classes evenly, as training draws them."""
        if self.labels is None:
            return None
        return np.arange(count, dtype=np.int32) % self.net.num_classes

    def _phase_images(self) -> int:
        schedule = self.cfg.schedule
        if schedule.epochs_per_res is not None:
            return max(1, round(schedule.epochs_per_res * len(self.cache) / 2))
        return max(1, round(schedule.kimg_per_phase * 1000))

    def _build_models(self) -> None:
        policy = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
        self.precision = resolve_mixed_precision(self.cfg.mixed_precision)
        if self.cfg.mixed_precision == "auto":
            log.info("--mixed-precision auto: %s", policy[self.precision])
        elif self.precision == "bf16" and not (backend.has_gpu() or cpu_has_native_bf16()):
            log.warning(
                "bf16 without a GPU or a CPU with AVX512_BF16/AMX runs on a slow path (conv "
                "gradients measured 25x slower than float32 on an AVX2 CPU); consider --jit instead"
            )
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy[self.precision])
        try:
            with self._scope():
                keras.utils.set_random_seed(self.cfg.seed)
                self.G = Generator(self.net, self.num_stages, name="generator")
                self.D = Discriminator(self.net, self.num_stages, name="discriminator")
                self.G_ema = Generator(self.net, self.num_stages, name="generator_ema")
                for ema, live in zip(self.G_ema.weights, self.G.weights, strict=True):
                    ema.assign(live)
        finally:
            keras.config.set_dtype_policy(previous)

    def _scope(self):
        """Where variables are made: the strategy's scope under TensorFlow."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    def new_optimizers(self, phase: Phase) -> None:
        """Fresh Adam state for each phase, as the official code resets it at every lod change."""
        opt = self.cfg.optimizer
        with self._scope():
            self.g_opt, self.d_opt = (
                self._wrap(
                    keras.optimizers.Adam(
                        learning_rate=opt.learning_rate * ratio,
                        beta_1=opt.beta_1**ratio,
                        beta_2=opt.beta_2**ratio,
                        epsilon=opt.epsilon,
                    )
                )
                for ratio in self._adam_ratios()
            )
            self.g_opt.build(self.G.stage_variables(phase.stage, phase.fading))
            self.d_opt.build(self.D.stage_variables(phase.stage, phase.fading))

    def learning_rate(self, index: int) -> float:
        """Adam's rate in phase ``index``: the optimizer's, except in the final training with a
        ``final_lr``, where chunk k of K runs at lr·(final_lr/lr)^((k+1)/K)."""
        rate, final_rate = self.cfg.optimizer.learning_rate, self.cfg.schedule.final_lr
        finals = [i for i, phase in enumerate(self.phases) if phase.final]
        if final_rate is None or index not in finals:
            return rate
        return rate * (final_rate / rate) ** ((finals.index(index) + 1) / len(finals))

    def _set_learning_rate(self, index: int) -> None:
        """Give the Adam that carries on (a resume, a final chunk) the rate of phase ``index``."""
        rate = self.learning_rate(index)
        g_ratio, d_ratio = self._adam_ratios()
        self.g_opt.learning_rate, self.d_opt.learning_rate = rate * g_ratio, rate * d_ratio

    def _adam_ratios(self) -> tuple[float, float]:
        """G's and D's step ratio c: lazy R1 regularises D on one step in k, so StyleGAN2 runs
        D's Adam at lr·c, β**c with c = k/(k+1)."""
        loss = self.cfg.loss
        return 1.0, (loss.r1_every / (loss.r1_every + 1) if loss.kind == "logistic-r1" else 1.0)

    def _wrap(self, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
        if self.precision == "fp16":
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    # ----------------------------------------------------------------- the step
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
            images=self.cache.arrays[shape],
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

    def make_step(self, phase: Phase, batch_size: int, regularize: bool = True, steps: int = 0):
        """One training step: ``n_critic`` critic updates, one generator update, the EMA.

        ``regularize``: whether the critic takes the lazy R1 penalty in this step (the
        logistic loss compiles a step with it and one without; WGAN-GP's penalty is in every
        step). ``steps``: how many the phase has left, which decides whether ``jit="auto"``
        tries XLA against the plain step (TensorFlow on one device; XLA's CPU collectives
        crash a multi-worker step) or keeps the plain one.
        """
        tries_both = (
            self.cfg.jit == "auto"
            and backend.name() == "tensorflow"
            and self.cfg.strategy == "default"
            and steps >= AUTO_JIT_MIN_STEPS
        )
        if not tries_both:
            return self._compile_step(phase, batch_size, regularize, self.cfg.jit == "on")
        where = f"{format_res(self.shapes[phase.stage])} {phase.name}"

        def report(chosen: str, medians: dict[str, float]) -> None:
            times = ", ".join(
                f"{name} {1e3 * t:.1f} ms" if math.isfinite(t) else f"{name} out of memory"
                for name, t in medians.items()
            )
            log.info("%s step: %s; keeping %s", where, times, chosen)

        return backend.fastest_step(
            {
                "plain": self._compile_step(phase, batch_size, regularize, False),
                "XLA": self._compile_step(phase, batch_size, regularize, True),
            },
            AUTO_JIT_TRIALS,
            report,
        )

    def _compile_step(self, phase: Phase, batch_size: int, regularize: bool, jit: bool):
        G, D = self.G, self.D
        stage, fading, loss_cfg = phase.stage, phase.fading, self.cfg.loss
        policy = self.cfg.augment
        g_vars = G.stage_variables(stage, fading)
        d_vars = D.stage_variables(stage, fading)
        ema_pairs = list(zip(self.G_ema.stage_variables(stage, fading), g_vars, strict=True))
        # The half-life counts every image a step shows, the critic's n_critic batches included.
        beta = ema_beta(self.cfg.schedule.ema_kimg, batch_size * self.cfg.schedule.n_critic)
        g_opt, d_opt = self.g_opt, self.d_opt

        # fp16: the penalty's inner gradient is taken at the critic optimizer's loss scale.
        penalty_scale = (
            d_opt.dynamic_scale if isinstance(d_opt, keras.optimizers.LossScaleOptimizer) else None
        )

        def mean(per_example):  # over the global batch, whatever share a replica holds
            return ops.sum(per_example) / batch_size

        def replica_step(batch, alpha):
            # A conditional run's labels (None otherwise): fakes and the penalty's mixed images
            # are judged under the labels of the reals they are paired with.
            labels = batch.get("labels")

            def judge(y, u=None):
                """D under labels ``y``, seeing images augmented by the numbers ``u``."""

                def critic(images):
                    if policy:
                        images = augment(images, u, policy)
                    return D(images, stage=stage, alpha=alpha, fading=fading, labels=y)

                return critic

            def generate(z, y):  # float32 images whatever the compute dtype
                return ops.cast(G(z, stage=stage, alpha=alpha, fading=fading, labels=y), "float32")

            reals_all = ops.cast(batch["reals"], "float32") / 127.5 - 1.0
            for i in range(self.cfg.schedule.n_critic):
                y = None if labels is None else labels[:, i]
                u = [batch["aug"][:, i, j] if policy else None for j in range(3)]
                reals = faded_reals(reals_all[:, i], alpha, fading)
                mix = batch["gp_mix"][:, i, None, None, None]

                def critic_loss(y=y, u=u, reals=reals, mix=mix, z=batch["z_critic"][:, i]):
                    terms = critic_terms(
                        loss_cfg,
                        (judge(y, u[0]), judge(y, u[1]), judge(y, u[2])),
                        reals,
                        generate(z, y),
                        mix,
                        regularize,
                        penalty_scale,
                    )
                    return mean(terms["loss"]), terms

                d_loss, terms = backend.minimize(d_opt, d_vars, critic_loss)
            y_gen = batch.get("labels_gen")
            critic = judge(y_gen, batch["aug_gen"] if policy else None)

            def generator_loss():
                return mean(generator_terms(loss_cfg, critic(generate(batch["z_gen"], y_gen)))), ()

            g_loss, _ = backend.minimize(g_opt, g_vars, generator_loss)
            logged = {name: mean(value) for name, value in terms.items() if name != "loss"}
            return {"d_loss": d_loss, "g_loss": g_loss, **logged}

        def update_ema():
            for ema, live in ema_pairs:
                ema.assign(live + beta * (ema - live))

        everything = [*self._weights(), *self.g_opt.variables, *self.d_opt.variables]
        return backend.compile_step(
            replica_step,
            update_ema,
            everything,
            self.strategy,
            jit,
            data_parallel=self.strategy is None and self.cfg.strategy == "mirrored",
        )

    # ----------------------------------------------------------------- the loop
    def restore(self) -> None:
        """Load the newest checkpoint every worker holds: models and counters, and Adam state
        when mid-phase."""
        legacy = not checkpoints.steps(self.ckpt_dir)
        if self.cluster.all_or_none(legacy, "only checkpoints of an earlier version"):
            self._restore_tensorflow_checkpoint()
            return
        path = checkpoints.path_for(self.ckpt_dir, self._common_checkpoint())
        arrays = self.cluster.unless_one_fails(
            lambda: checkpoints.load(path), f"could not read its {path.name}"
        )
        # A run resumed with a higher --max-res has stages the checkpoint lacks: they keep
        # their fresh initialisation.
        for key, variable in self._model_variables().items():
            if key in arrays:
                variable.assign(arrays[key])
        self._set_counters(
            {k.removeprefix("counters/"): v for k, v in arrays.items() if k.startswith("counters/")}
        )
        if self.is_chief:  # phase ends after the checkpoint will be logged again
            run_folder.trim_log(
                self.run_dir, lambda r: round(r.get("kimg", 0) * 1000) <= self.images_shown
            )

        def load_adam() -> None:
            for key, variable in self._optimizer_variables().items():
                variable.assign(arrays[key])

        self._reopen_phase(load_adam)
        log.info("resumed %s at %s, %d images shown", self.run_dir, path, self.images_shown)

    def _model_variables(self) -> dict:
        """G, D and the EMA G by checkpoint key."""
        named = (("generator", self.G), ("discriminator", self.D), ("generator_ema", self.G_ema))
        return {f"{prefix}/{v.path}": v for prefix, model in named for v in model.weights}

    def _optimizer_variables(self) -> dict:
        return checkpoints.optimizer_variables({"g_opt": self.g_opt, "d_opt": self.d_opt})

    def _counters(self) -> dict:
        """Where the run stands, by the names checkpoints give them."""
        return {
            "phase": np.int64(self.phase_index),
            "phase_images": np.int64(self.phase_shown),
            "images_shown": np.int64(self.images_shown),
            "alpha": np.float32(self.alpha),
            "train_seconds": np.float64(self.train_seconds),
        }

    def _set_counters(self, values: dict) -> None:
        self.phase_index = int(values["phase"])
        self.phase_shown = int(values["phase_images"])
        self.images_shown = int(values["images_shown"])
        self.alpha = float(values["alpha"])
        self.train_seconds = float(values["train_seconds"])

    def _reopen_phase(self, load_adam) -> None:
        """Fresh Adam for the restored phase, then its saved state when the checkpoint was
        taken mid-phase or in final training (where Adam carries on)."""
        if self._phase() < len(self.phases):
            self.new_optimizers(self.phases[self._phase()])
            if self.phase_shown > 0 or self.phases[self._phase()].final:
                load_adam()
                # Adam saves its learning rate with its moments; the settings' one wins, so
                # --lr on --resume takes effect.
                self._set_learning_rate(self._phase())

    def _restore_tensorflow_checkpoint(self) -> None:
        """A run saved by a version before the ``.npz`` checkpoints, in TensorFlow's format.

        It is read under TensorFlow; its next save is in the format both backends read.
        """
        if backend.name() != "tensorflow":
            raise ProganError(
                f"{self.ckpt_dir} holds a TensorFlow checkpoint of an earlier version; resume it "
                "once under TensorFlow, which saves it in the format every backend reads"
            )
        import tensorflow as tf

        path = tf.train.latest_checkpoint(str(self.ckpt_dir))
        counters = {
            "phase": tf.Variable(0, dtype=tf.int64),
            "phase_images": tf.Variable(0, dtype=tf.int64),
            "images_shown": tf.Variable(0, dtype=tf.int64),
            "alpha": tf.Variable(0.0, dtype=tf.float32),
            "train_seconds": tf.Variable(0.0, dtype=tf.float64),
        }
        models = tf.train.Checkpoint(
            generator=by_path(self.G),
            discriminator=by_path(self.D),
            generator_ema=by_path(self.G_ema),
            **counters,
        )
        tf.train.Checkpoint(models=models).restore(path).expect_partial()
        self._set_counters({name: value.numpy() for name, value in counters.items()})

        def load_adam() -> None:
            optimizers = tf.train.Checkpoint(g_opt=self.g_opt, d_opt=self.d_opt)
            tf.train.Checkpoint(optimizers=optimizers).restore(path).expect_partial()

        self._reopen_phase(load_adam)
        log.info("resumed %s at %s, %d images shown", self.run_dir, path, self.images_shown)

    def _common_checkpoint(self) -> int:
        """The newest checkpoint step that every worker holds."""
        keep = self.cfg.keep_checkpoints
        newest = checkpoints.steps(self.ckpt_dir)[-keep:]
        # Every worker sends as many numbers (its newest steps, -1 for none); steps are image
        # counts, far inside float64's exact range.
        everyone = self.cluster.gather(newest + [-1] * (keep - len(newest)))
        return common_step([[int(s) for s in row if s >= 0] for row in everyone])

    def start_from(self, folder: Path) -> None:
        """Take the weights and counters of an export's phase end (``train.py --from``).

        G and D come from its training state, the EMA G from its weights (stages the export
        has not reached keep their fresh initialisation; stages ``--channels`` widened are
        widened by ``progan.widen``, computing what they computed); Adam starts afresh, as it
        does at every phase start anyway.
        """
        meta = json.loads((folder / export.MODEL_JSON).read_text())
        progress = meta.get("training") or {}
        state = export.read_training_state(folder)
        with np.load(folder / export.WEIGHTS) as archive:
            ema = {f"generator/{key}": array for key, array in archive.items()}
        # A run set up for a higher --max-res saves its stages above the export's, untrained;
        # those are this run's to initialise (and --channels may have widened them).
        reached = int(meta["stages"])
        unreached = set().union(
            *(
                self._stage_ids(model, range(reached, self.num_stages))
                - self._stage_ids(model, range(reached))
                for model in (self.G, self.D, self.G_ema)
            )
        )
        # (stored key, variable, archive); a variable's key also seeds its widening, so the
        # live and the EMA generator are split alike
        targets = [(f"generator/{v.path}", v, state) for v in self.G.weights]
        targets += [(f"discriminator/{v.path}", v, state) for v in self.D.weights]
        targets += [(f"generator/{v.path}", v, ema) for v in self.G_ema.weights]
        widened = tuple(meta["network"]["channels"][:reached]) != self.net.channels[:reached]
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
        # Final training at the export's top stage is done once the run grows past it: the
        # next phase is the fade-in of the stage above (phase 2·stages − 1).
        if self.num_stages > reached:
            done = min(done, 2 * reached - 1)
        if done >= len(self.phases):
            trained = progress.get("config", {}).get("schedule", {}).get("final_kimg", 0)
            raise ProganError(
                f"{folder} is {done} phases into its training, past the {len(self.phases)} of "
                f"this run: raise --final-kimg (kimg at the top stage after its stabilize "
                f"phase, in all; the export's run had {trained:g}) to train on"
            )
        self.phase_index = int(done)
        self.images_shown = int(progress["images_shown"])
        self.train_seconds = float(progress["train_seconds"])
        self.phase_shown = 0
        if self._phase() < len(self.phases):
            self.alpha = alpha_at(self.phases[self._phase()], 0)
        log.info("starting from %s at %d images shown", folder, self.images_shown)

    @staticmethod
    def _stage_ids(model, stages: range) -> set[int]:
        """The ids of the variables of ``model`` that the steps at ``stages`` touch."""
        return {id(v) for stage in stages for v in model.stage_variables(stage, fading=stage > 0)}

    def _phase(self) -> int:
        return self.phase_index

    def save(self) -> str:
        """Write a checkpoint of a run that is still finite, so the last one kept is good.

        The last step's losses and every weight of G and D are checked first: a NaN that
        appeared since the last log stops the run here instead of overwriting good state.
        """
        losses = {name: float(v) for name, v in self.last_step.items()}
        self._check_finite(losses)
        self._check_finite(
            {v.path: float(np.isfinite(v.numpy()).all() or np.nan) for v in self._weights()}
        )
        arrays = {key: v.numpy() for key, v in self._model_variables().items()}
        arrays |= {key: v.numpy() for key, v in self._optimizer_variables().items()}
        arrays |= {f"counters/{name}": value for name, value in self._counters().items()}
        path = checkpoints.save(
            self.ckpt_dir, self.images_shown, arrays, keep=self.cfg.keep_checkpoints
        )
        if self.is_chief:
            self.write_latest()
        return str(path)

    def _weights(self) -> list:
        return [*self.G.weights, *self.D.weights, *self.G_ema.weights]

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
        previous = {
            s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            while self.phase_index < len(self.phases):
                index = self.phase_index
                finished = self._run_phase(self.phases[index])
                if not finished:
                    path = self.save()
                    raise KeyboardInterrupt(f"stopped; saved {path}")
                with self._memory_advice(self._without_evaluation):
                    self._end_phase(index)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.writer is not None:
                self.writer.close()
        return self.run_dir / run_folder.EXPORT

    def _request_stop(self, signum: int, _frame) -> None:
        self.stop_signal = signum

    def _run_phase(self, phase: Phase) -> bool:
        """Train ``phase`` to its end; False when a stop was requested first (after a save)."""
        cfg = self.cfg
        batch_size = cfg.schedule.batch_sizes[phase.stage]
        per_step = batch_size * cfg.schedule.n_critic
        shown = self.phase_shown
        steps = math.ceil(max(0, phase.images - shown) / per_step)
        shape = self.shapes[phase.stage]
        dataset = self.phase_dataset(phase.stage, self.images_shown, steps)
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
        with bar, self._memory_advice(lambda: self._smaller_batches(phase)):
            for k, batch in enumerate(dataset, start=1):
                alpha = alpha_at(phase, shown)
                metrics = step_for(shown)(batch, ops.convert_to_tensor(alpha, "float32"))
                self.last_step = metrics
                shown += per_step
                self.train_seconds += time.monotonic() - tick
                tick = time.monotonic()
                self.phase_shown = shown
                self.images_shown += per_step
                self.alpha = alpha_at(phase, shown)
                bar.update(min(shown, phase.images) - bar.n)
                if k % cfg.log_every_steps == 0 or k == steps:
                    values = {name: float(v) for name, v in metrics.items()}
                    self._check_finite(values)
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

    @contextlib.contextmanager
    def _memory_advice(self, advice: Callable[[], str]) -> Iterator[None]:
        """Turn the backend's out-of-memory error into one line: what did not fit and what to
        change (the allocation that failed is logged first)."""
        try:
            yield
        except Exception as err:
            if not backend.is_out_of_memory(err):
                raise
            log.warning("out of memory: %s", str(err).strip().splitlines()[0])
            raise ProganError(advice()) from None

    def _without_evaluation(self) -> str:
        """What a phase end that did not fit says (its images are drawn in training batches;
        the evaluation's arrays are what grows)."""
        return (
            f"out of memory evaluating the phase end on {self.cfg.eval_images} images; resume "
            f"without the evaluation: {resume_command(self.run_dir, '--eval-images', '0')}"
        )

    def _smaller_batches(self, phase: Phase) -> str:
        """What a step that did not fit says: the command that resumes the run from its last
        checkpoint with half that stage's batch (and no larger one above it), in a multiple the
        run's replicas or devices can split into minibatch-stddev groups of 2."""
        sizes = self.cfg.schedule.batch_sizes
        batch = sizes[phase.stage]
        unit = 2 * self.replicas
        if self.strategy is None and self.cfg.strategy == "mirrored":  # JAX shards the batch
            import jax

            unit = math.lcm(2, jax.local_device_count())
        smaller = max(unit, batch // 2 // unit * unit)
        where = f"out of memory at {format_res(self.shapes[phase.stage])} {phase.name}"
        if smaller >= batch:
            return (
                f"{where} with batches of {batch}, already the smallest this run can split; use "
                "a device with more memory, or fewer channels"
            )
        capped = [*sizes[: phase.stage], *(min(size, smaller) for size in sizes[phase.stage :])]
        command = resume_command(self.run_dir, "--batch-sizes", ",".join(map(str, capped)))
        every = " on every worker" if self.cluster.workers > 1 else ""
        return f"{where} with batches of {batch}; resume with smaller ones{every}: {command}"

    def _check_finite(self, values: dict[str, float]) -> None:
        bad = [name for name, v in values.items() if not math.isfinite(v)]
        if bad:
            raise TrainingDiverged(
                f"{', '.join(bad)} became NaN/Inf at {self.images_shown} images; "
                f"the last good checkpoint in {self.ckpt_dir} is kept (lower the learning rate "
                "or resume from it)"
            )

    def _log_scalars(self, phase: Phase, values: dict[str, float], rate: float) -> None:
        if self.writer is None:
            return
        scalars = {f"loss/{name}": value for name, value in values.items()}
        scalars |= {
            "progress/alpha": self.alpha,
            "progress/stage": phase.stage,
            "progress/images_per_s": rate,
            "progress/train_hours": self.train_seconds / 3600,
            "progress/learning_rate": self.learning_rate(self.phase_index),
        }
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step=self.images_shown)
        self.writer.flush()

    def _end_phase(self, index: int) -> None:
        """Report the finished phase, then move on with fresh Adam state, and save."""
        if self.is_chief:
            self._report_phase(index)
        self.phase_index = index + 1
        self.phase_shown = 0
        if index + 1 < len(self.phases):
            if self.phases[index + 1].final:  # Adam carries on into the final training
                self._set_learning_rate(index + 1)
            else:
                self.new_optimizers(self.phases[index + 1])
            self.alpha = alpha_at(self.phases[index + 1], 0)
        self.save()

    def _report_phase(self, index: int) -> None:
        """Sample grid, export, evaluation and one metrics.jsonl line for a finished phase."""
        phase = self.phases[index]
        kimg = self.images_shown / 1000
        grid = self.sample_grid(phase.stage)
        samples = self.run_dir / run_folder.SAMPLES
        samples.mkdir(exist_ok=True)
        name = f"{kimg:08.1f}kimg-{format_res(self.shapes[phase.stage])}-{phase.name}.png"
        files.save_image(samples / name, grid)
        self.write_export(phase.stage + 1, phases_done=index + 1)
        scores = {}
        if self.cfg.eval_images:
            try:
                scores = self.evaluate(phase.stage)
            except (ProganError, ValueError, OSError) as err:  # a figure never stops a run
                log.warning("phase %d: no evaluation (%s); training goes on", index, err)
        for key, value in scores.items():
            if self.writer is not None:
                self.writer.add_scalar(f"eval/{key}", value, step=self.images_shown)
        record = {
            "kimg": kimg,
            "phase": index,
            "stage": phase.stage,
            "res": format_res(self.shapes[phase.stage]),
            "name": phase.name,
            "time": time.time(),
            "train_seconds": round(self.train_seconds, 1),
            **self.last_losses,
            **scores,
        }
        run_folder.log(self.run_dir, record)
        log.info("phase %d done at %.1f kimg: %s", index, kimg, samples / name)

    def evaluate(self, stage: int) -> dict[str, float | int]:
        """SWD and MS-SSIM of the EMA generator at ``stage`` on ``eval_images`` random latents;
        on laundry data from the kind classifier's stage up, the kind figures too (the classifier
        is trained at the first such phase end, about ten minutes on two cores at 80x48, and
        cached beside the data, where later runs and ``evaluate`` find it)."""
        reals = sample_reals(
            self.cache.arrays[self.shapes[stage]], 2 * self.cfg.eval_images, self.cfg.seed
        )
        n = len(reals) // 2
        z = seed_latents(list(range(n)), self.net.latent_dim)
        labels = self._labels_for(n)
        fakes = self._render(z, stage, labels)
        scores = evaluate(fakes, reals, seed=self.cfg.seed)
        # the classifier evaluate would use on the finished model, from its stage up
        shape = kinds.classifier_res(self.shapes, self.shapes[-1])
        if self.kinds_shown is not None and self.shapes[stage] >= shape:
            try:  # Ctrl-C ends the classifier's first training (ten minutes) at once
                classifier = kinds.cached_classifier(
                    self.source,
                    self.kinds_shown,
                    self.cache,
                    shape,
                    should_stop=lambda: self.stop_signal is not None,
                )
            except kinds.ClassifierStopped as stopped:
                log.warning("no kind figures at this phase end: %s", stopped)
                return scores
            figures = kinds.kind_figures(classifier, fakes, reals)
            scores |= {key: figures[key] for key in PHASE_END_KIND_FIGURES}
        return scores

    def _render(self, z: np.ndarray, stage: int, labels: np.ndarray | None) -> np.ndarray:
        """The EMA generator's images, in chunks of the stage's training batch: what fit in a
        training step fits here."""
        size = self.cfg.schedule.batch_sizes[stage]
        return np.concatenate(
            [
                to_uint8(
                    self.G_ema(
                        z[i : i + size],
                        stage=stage,
                        labels=None if labels is None else labels[i : i + size],
                    )
                )
                for i in range(0, len(z), size)
            ]
        )

    def sample_grid(self, stage: int) -> np.ndarray:
        """The EMA generator on fixed seeds 0.., enlarged to at least 96 px high, tiled.

        A conditional model shows one row per class, the same seeds in every row.
        """
        rows, cols = self.cfg.grid_size
        if self.labels is None:
            z, labels = seed_latents(list(range(rows * cols)), self.net.latent_dim), None
        else:
            z = np.tile(
                seed_latents(list(range(cols)), self.net.latent_dim), (self.net.num_classes, 1)
            )
            labels = np.repeat(np.arange(self.net.num_classes, dtype=np.int32), cols)
        images = self._render(z, stage, labels)
        scale = max(1, 96 // images.shape[1])
        return image_grid(images.repeat(scale, axis=1).repeat(scale, axis=2), columns=cols)

    def _export_info(self) -> dict:
        return {
            "dataset": self.source.name,
            "images_shown": self.images_shown,
            "train_seconds": round(self.train_seconds, 1),
            "preset": self.cfg.preset,
            "command": self.cfg.command,
            "seed": self.cfg.seed,
        }

    def write_latest(self) -> Path:
        """The EMA G of this save as a render-only export, so a long phase (the paper's are
        600 kimg) can be evaluated or watched in the studio before it ends. Mid-fade-in it
        stops at the stage below, the last one that renders whole without the blend."""
        phase = self.phases[min(self.phase_index, len(self.phases) - 1)]
        stages = phase.stage + (0 if phase.fading and self.alpha < 1 else 1)
        info = self._export_info() | {"phase": phase.name, "alpha": self.alpha}
        return export.write_export(self.run_dir / run_folder.LATEST, self.G_ema, stages, info)

    def write_export(self, stages: int, phases_done: int) -> Path:
        """The EMA G for rendering, plus the training state of this phase end (``--from``)."""
        info = self._export_info() | {
            "training": {
                "phases_done": phases_done,
                "images_shown": self.images_shown,
                "train_seconds": self.train_seconds,
                "config": self.cfg.to_dict(),
            },
        }
        state = {
            key: v.numpy()
            for key, v in self._model_variables().items()
            if not key.startswith("generator_ema/")
        }
        folder = self.run_dir / run_folder.EXPORT
        return export.write_export(folder, self.G_ema, stages, info, state=state)
