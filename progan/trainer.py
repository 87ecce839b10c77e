"""Progressive training: the phase schedule, one WGAN-GP step, EMA, checkpoints and resume.

A run is a list of phases (stage 0 stabilize; then for every further stage a fade-in and a
stabilize phase). Its position is three counters — phase, images shown in the phase, images
shown in all — saved in every checkpoint; alpha and every random draw are functions of them, so
``--resume`` continues the same stream, mid fade-in included.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from config import TrainConfig
from progan import export
from progan.augment import augment
from progan.cluster import Cluster, common_step, make_strategy
from progan.data import BatchSpec, build_cache, open_source, step_dataset
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
from progan.sources import source_labels

log = logging.getLogger(__name__)

CONFIG_JSON = "config.json"
METRICS_JSONL = "metrics.jsonl"


class TrainingDiverged(ProganError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class Phase:
    stage: int
    fading: bool
    images: int
    # Training on at the top stage after its stabilize phase (--final-kimg), in chunks of a
    # phase's length so that each ends with an export and an evaluation. Adam carries on into
    # and through them, as the official code keeps it while the level of detail stays put.
    final: bool = False

    @property
    def name(self) -> str:
        return "final" if self.final else "fade-in" if self.fading else "stabilize"


def plan_phases(num_stages: int, phase_images: int, final_images: int = 0) -> list[Phase]:
    phases = [Phase(0, False, phase_images)]
    for stage in range(1, num_stages):
        phases += [Phase(stage, True, phase_images), Phase(stage, False, phase_images)]
    top = num_stages - 1
    for start in range(0, final_images, phase_images):
        phases.append(Phase(top, False, min(phase_images, final_images - start), final=True))
    return phases


def curriculum_plan(ks: tuple[int, ...], total_images: int) -> list[tuple[int, int | None]]:
    """``(first image, K)`` of each step of a color curriculum, then ``(…, None)``: full color.

    Step i of n covers the (i+1)-th of n+1 equal shares of the run's images, so the colors
    grow across the phases and resolutions as the run goes (2,3,4,5,10,20 over a 9-phase run
    to 80x48: K=2 for the first 9/7 phases, …, full color from 54/7 on).
    """
    share = total_images / (len(ks) + 1)
    return [(round(i * share), k) for i, k in enumerate((*ks, None))]


def alpha_at(phase: Phase, images_in_phase: int) -> float:
    """Linear from 0 to 1 over a fade-in phase; 1 when stabilizing."""
    if not phase.fading:
        return 1.0
    return min(1.0, images_in_phase / phase.images)


def faded_reals(reals, alpha, fading: bool):
    """The reals a critic step sees: during a fade-in they blend from the previous stage's
    resolution (2×2 averaged, then doubled) to full detail with the same alpha as G's output,
    so D never tells real from fake by sharpness alone (the official code's lod blend)."""
    if not fading:
        return reals
    return fade(upsample2x(downsample2x(reals)), reals, alpha)


def save_config(cfg: TrainConfig, run: Path) -> None:
    tmp = run / (CONFIG_JSON + ".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    tmp.replace(run / CONFIG_JSON)


def ema_beta(half_life_kimg: float, batch_size: int) -> float:
    """The per-step decay that halves an old weight's share after ``half_life_kimg`` kimg."""
    return 0.5 ** (batch_size / (half_life_kimg * 1000))


def bf16_is_fast() -> bool:
    """True on a GPU, or on a CPU whose flags include native bfloat16 arithmetic."""
    if tf.config.list_physical_devices("GPU"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def by_path(model: keras.Model) -> dict[str, tf.Variable]:
    """A model's variables keyed by their (unique) layer paths.

    Keras 3 models do not expose layers kept in Python lists to ``tf.train.Checkpoint``, so the
    checkpoint names every variable explicitly instead of relying on object tracking.
    """
    return {v.path.replace("/", "."): v for v in model.weights}


class Trainer:
    """Owns the models, optimizers and counters of one run folder."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.strategy = make_strategy(cfg.strategy)
        self.cluster = Cluster(self.strategy)
        self.is_chief, worker = self.cluster.is_chief, self.cluster.task_id
        # Every worker saves full checkpoints (saving is collective); only the chief's are the
        # run's, the others go to a folder of their own so that workers sharing a disk never
        # write the same files. Samples, exports, metrics and TensorBoard are the chief's.
        own = self.run_dir if self.is_chief else self.run_dir / "workers" / str(worker)
        self.ckpt_dir = own / "checkpoints"
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
        self._check_data()
        self.net = self.cfg.network
        self._check_mbstd_groups()
        self.phases = plan_phases(
            self.num_stages,
            self._phase_images(),
            round(cfg.schedule.final_kimg * 1000),
        )
        self._build_models()
        self.stop_signal: int | None = None
        self.last_losses: dict[str, float] = {}
        # The losses of the most recent step (tensors), checked before every save.
        self.last_step: dict[str, tf.Tensor] = {}
        if cfg.resume:
            self.restore()
        else:
            if cfg.start_from:
                self.start_from(Path(cfg.start_from))
            self.new_optimizers(self.phases[min(self._phase(), len(self.phases) - 1)])

    # ----------------------------------------------------------------- set-up
    def _check_run_folder(self) -> None:
        has_checkpoint = tf.train.latest_checkpoint(str(self.ckpt_dir)) is not None
        if self.cfg.resume and not has_checkpoint:
            raise ProganError(f"nothing to resume in {self.run_dir}: it has no checkpoint")
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
        would be a constant), and a smaller group than configured is said once."""
        replicas = self.strategy.num_replicas_in_sync
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
        if self.cfg.mixed_precision not in policy:
            raise ProganError("--mixed-precision must be off, bf16 or fp16")
        if self.cfg.mixed_precision == "bf16" and not bf16_is_fast():
            log.warning(
                "bf16 without a GPU or a CPU with AVX512_BF16/AMX runs on a slow path (conv "
                "gradients measured 25x slower than float32 on an AVX2 CPU); consider --jit instead"
            )
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy[self.cfg.mixed_precision])
        try:
            with self.strategy.scope():
                keras.utils.set_random_seed(self.cfg.seed)
                self.G = Generator(self.net, self.num_stages, name="generator")
                self.D = Discriminator(self.net, self.num_stages, name="discriminator")
                self.G_ema = Generator(self.net, self.num_stages, name="generator_ema")
                for ema, live in zip(self.G_ema.weights, self.G.weights, strict=True):
                    ema.assign(live)
                self.phase_index = tf.Variable(0, dtype=tf.int64, trainable=False)
                self.phase_shown = tf.Variable(0, dtype=tf.int64, trainable=False)
                self.images_shown = tf.Variable(0, dtype=tf.int64, trainable=False)
                self.alpha = tf.Variable(0.0, dtype=tf.float32, trainable=False)
                # Wall-clock seconds spent training, summed over every resume of the run.
                self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        finally:
            keras.config.set_dtype_policy(previous)
        self.models_checkpoint = tf.train.Checkpoint(
            generator=by_path(self.G),
            discriminator=by_path(self.D),
            generator_ema=by_path(self.G_ema),
            phase=self.phase_index,
            phase_images=self.phase_shown,
            images_shown=self.images_shown,
            alpha=self.alpha,
            train_seconds=self.train_seconds,
        )

    def new_optimizers(self, phase: Phase) -> None:
        """Fresh Adam state for each phase, as the official code resets it at every lod change."""
        opt, loss = self.cfg.optimizer, self.cfg.loss
        # Lazy R1 regularises D on one step in k: StyleGAN2 runs its Adam at lr·c, β**c.
        c = loss.r1_every / (loss.r1_every + 1) if loss.kind == "logistic-r1" else 1.0
        with self.strategy.scope():
            self.g_opt, self.d_opt = (
                self._wrap(
                    keras.optimizers.Adam(
                        learning_rate=opt.learning_rate * ratio,
                        beta_1=opt.beta_1**ratio,
                        beta_2=opt.beta_2**ratio,
                        epsilon=opt.epsilon,
                    )
                )
                for ratio in (1.0, c)
            )
            self.g_opt.build(self.G.stage_variables(phase.stage, phase.fading))
            self.d_opt.build(self.D.stage_variables(phase.stage, phase.fading))
        self.optimizers_checkpoint = tf.train.Checkpoint(g_opt=self.g_opt, d_opt=self.d_opt)
        checkpoint = tf.train.Checkpoint(
            models=self.models_checkpoint, optimizers=self.optimizers_checkpoint
        )
        self.manager = tf.train.CheckpointManager(
            checkpoint, str(self.ckpt_dir), max_to_keep=self.cfg.keep_checkpoints
        )

    def _wrap(self, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
        if self.cfg.mixed_precision == "fp16":
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    # ----------------------------------------------------------------- the step
    def phase_dataset(self, stage: int, start: int, steps: int):
        """The distributed batches of ``steps`` steps at ``stage`` from image count ``start``."""
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
        return self.strategy.distribute_datasets_from_function(
            lambda context: step_dataset(spec, start, steps, context)
        )

    def make_step(self, phase: Phase, batch_size: int, regularize: bool = True):
        """One training step: ``n_critic`` critic updates, one generator update, the EMA.

        ``regularize``: whether the critic takes the lazy R1 penalty in this step (the
        logistic loss compiles a step with it and one without; WGAN-GP's penalty is in every
        step).
        """
        G, D, strategy = self.G, self.D, self.strategy
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

        def mean(per_example):
            return tf.nn.compute_average_loss(per_example, global_batch_size=batch_size)

        def scaled(optimizer, loss):  # fp16: loss scaling, undone by the optimizer
            if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                return optimizer.scale_loss(loss)
            return loss

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
                return tf.cast(G(z, stage=stage, alpha=alpha, fading=fading, labels=y), tf.float32)

            reals_all = tf.cast(batch["reals"], tf.float32) / 127.5 - 1.0
            for i in range(self.cfg.schedule.n_critic):
                y = None if labels is None else labels[:, i]
                u = [batch["aug"][:, i, j] if policy else None for j in range(3)]
                reals = faded_reals(reals_all[:, i], alpha, fading)
                fakes = generate(batch["z_critic"][:, i], y)
                mix = batch["gp_mix"][:, i, None, None, None]
                with tf.GradientTape() as tape:
                    terms = critic_terms(
                        loss_cfg,
                        (judge(y, u[0]), judge(y, u[1]), judge(y, u[2])),
                        reals,
                        fakes,
                        mix,
                        regularize,
                        penalty_scale,
                    )
                    d_loss = mean(terms["loss"])
                    d_objective = scaled(d_opt, d_loss)
                grads = tape.gradient(d_objective, d_vars)
                d_opt.apply_gradients(list(zip(grads, d_vars, strict=True)))
            y_gen = batch.get("labels_gen")
            critic = judge(y_gen, batch["aug_gen"] if policy else None)
            with tf.GradientTape() as tape:
                fake_scores = critic(generate(batch["z_gen"], y_gen))
                g_loss = mean(generator_terms(loss_cfg, fake_scores))
                g_objective = scaled(g_opt, g_loss)
            grads = tape.gradient(g_objective, g_vars)
            g_opt.apply_gradients(list(zip(grads, g_vars, strict=True)))
            logged = {name: mean(value) for name, value in terms.items() if name != "loss"}
            return {"d_loss": d_loss, "g_loss": g_loss, **logged}

        # No tensor-dependent Python control flow here, so autograph has nothing to convert.
        @tf.function(jit_compile=self.cfg.jit, autograph=False)
        def step(batch, alpha):
            per_replica = strategy.run(replica_step, args=(batch, alpha))
            for ema, live in ema_pairs:
                ema.assign(live + beta * (ema - live))
            return {
                k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in per_replica.items()
            }

        return step

    # ----------------------------------------------------------------- the loop
    def restore(self) -> None:
        """Load the newest checkpoint every worker holds: models and counters, and Adam state
        when mid-phase."""
        path = self._common_checkpoint()
        tf.train.Checkpoint(models=self.models_checkpoint).restore(path).expect_partial()
        index = int(self.phase_index.numpy())
        if index < len(self.phases):
            self.new_optimizers(self.phases[index])
            if int(self.phase_shown.numpy()) > 0 or self.phases[index].final:
                tf.train.Checkpoint(optimizers=self.optimizers_checkpoint).restore(
                    path
                ).expect_partial()
        log.info(
            "resumed %s at %s, %d images shown", self.run_dir, path, int(self.images_shown.numpy())
        )

    def _common_checkpoint(self) -> str:
        state = tf.train.get_checkpoint_state(str(self.ckpt_dir))
        paths = {int(p.rsplit("-", 1)[1]): p for p in state.all_model_checkpoint_paths}
        # Every worker sends as many numbers (its newest steps, -1 for none); steps are image
        # counts, far inside float64's exact range.
        keep = self.cfg.keep_checkpoints
        newest = sorted(paths)[-keep:]
        everyone = self.cluster.gather(newest + [-1] * (keep - len(newest)))
        step = common_step([[int(s) for s in row if s >= 0] for row in everyone])
        return paths[step]

    def start_from(self, folder: Path) -> None:
        """Take the weights and counters of an export's phase end (``train.py --from``).

        G and D come from its training state, the EMA G from its weights (stages the export
        has not reached keep their fresh initialisation); Adam starts afresh, as it does at
        every phase start anyway.
        """
        meta = json.loads((folder / export.MODEL_JSON).read_text())
        progress = meta.get("training") or {}
        state = export.read_training_state(folder)
        with np.load(folder / export.WEIGHTS) as archive:
            ema = dict(archive)
        targets = [(f"generator/{v.path}", v, state) for v in self.G.weights]
        targets += [(f"discriminator/{v.path}", v, state) for v in self.D.weights]
        targets += [(v.path, v, ema) for v in self.G_ema.weights]
        for key, variable, arrays in targets:
            if key in arrays:
                if arrays[key].shape != tuple(variable.shape):
                    raise ProganError(
                        f"{folder}: {key} is {arrays[key].shape}, this run's network needs "
                        f"{tuple(variable.shape)}; --from keeps the export's network settings"
                    )
                variable.assign(arrays[key].astype(np.float32))
        if "phases_done" not in progress:
            raise ProganError(f"{folder}/{export.MODEL_JSON} does not say where training stopped")
        done = progress["phases_done"]
        # Final training at the export's top stage is done once the run grows past it: the
        # next phase is the fade-in of the stage above (phase 2·stages − 1).
        if self.num_stages > int(meta["stages"]):
            done = min(done, 2 * int(meta["stages"]) - 1)
        self.phase_index.assign(done)
        self.images_shown.assign(progress["images_shown"])
        self.train_seconds.assign(progress["train_seconds"])
        self.phase_shown.assign(0)
        if self._phase() < len(self.phases):
            self.alpha.assign(alpha_at(self.phases[self._phase()], 0))
        log.info("starting from %s at %d images shown", folder, int(self.images_shown.numpy()))

    def _phase(self) -> int:
        return int(self.phase_index.numpy())

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
        return self.manager.save(checkpoint_number=int(self.images_shown.numpy()))

    def _weights(self) -> list:
        return [*self.G.weights, *self.D.weights, *self.G_ema.weights]

    def train(self) -> Path:
        """Run every remaining phase; returns the export folder."""
        if self.is_chief:
            save_config(self.cfg, self.run_dir)
        if not self.cfg.resume:
            self.save()
        writer = (
            tf.summary.create_file_writer(str(self.run_dir / "tb"))
            if self.is_chief
            else tf.summary.create_noop_writer()
        )
        previous = {
            s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            while int(self.phase_index.numpy()) < len(self.phases):
                index = int(self.phase_index.numpy())
                with writer.as_default():
                    finished = self._run_phase(self.phases[index])
                if not finished:
                    path = self.save()
                    raise KeyboardInterrupt(f"stopped; saved {path}")
                self._end_phase(index)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            writer.close()
        return self.run_dir / "export"

    def _request_stop(self, signum: int, _frame) -> None:
        self.stop_signal = signum

    def _run_phase(self, phase: Phase) -> bool:
        """Train ``phase`` to its end; False when a stop was requested first (after a save)."""
        cfg = self.cfg
        batch_size = cfg.schedule.batch_sizes[phase.stage]
        per_step = batch_size * cfg.schedule.n_critic
        shown = int(self.phase_shown.numpy())
        steps = math.ceil(max(0, phase.images - shown) / per_step)
        shape = self.shapes[phase.stage]
        dataset = self.phase_dataset(phase.stage, int(self.images_shown.numpy()), steps)
        steps_by_kind: dict[bool, object] = {}

        def step_for(shown_before: int):
            """The compiled step for this point of the phase (with or without lazy R1)."""
            lazy = cfg.loss.kind == "logistic-r1"
            regularize = not lazy or (shown_before // per_step) % cfg.loss.r1_every == 0
            if regularize not in steps_by_kind:
                steps_by_kind[regularize] = self.make_step(phase, batch_size, regularize)
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
        try:
            for k, batch in enumerate(dataset, start=1):
                alpha = alpha_at(phase, shown)
                metrics = step_for(shown)(batch, tf.constant(alpha, tf.float32))
                self.last_step = metrics
                shown += per_step
                self.train_seconds.assign_add(time.monotonic() - tick)
                tick = time.monotonic()
                self.phase_shown.assign(shown)
                self.images_shown.assign_add(per_step)
                self.alpha.assign(alpha_at(phase, shown))
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
        finally:
            bar.close()
        return self.stop_signal is None

    def _check_finite(self, values: dict[str, float]) -> None:
        bad = [name for name, v in values.items() if not math.isfinite(v)]
        if bad:
            raise TrainingDiverged(
                f"{', '.join(bad)} became NaN/Inf at {int(self.images_shown.numpy())} images; "
                f"the last good checkpoint in {self.ckpt_dir} is kept (lower the learning rate "
                "or resume from it)"
            )

    def _log_scalars(self, phase: Phase, values: dict[str, float], rate: float) -> None:
        step = int(self.images_shown.numpy())
        for name, value in values.items():
            tf.summary.scalar(f"loss/{name}", value, step=step)
        tf.summary.scalar("progress/alpha", float(self.alpha.numpy()), step=step)
        tf.summary.scalar("progress/stage", phase.stage, step=step)
        tf.summary.scalar("progress/images_per_s", rate, step=step)
        hours = float(self.train_seconds.numpy()) / 3600
        tf.summary.scalar("progress/train_hours", hours, step=step)

    def _end_phase(self, index: int) -> None:
        """Report the finished phase, then move on with fresh Adam state, and save."""
        if self.is_chief:
            self._report_phase(index)
        self.phase_index.assign(index + 1)
        self.phase_shown.assign(0)
        if index + 1 < len(self.phases):
            if not self.phases[index + 1].final:  # Adam carries on into the final training
                self.new_optimizers(self.phases[index + 1])
            self.alpha.assign(alpha_at(self.phases[index + 1], 0))
        self.save()

    def _report_phase(self, index: int) -> None:
        """Sample grid, export, evaluation and one metrics.jsonl line for a finished phase."""
        phase = self.phases[index]
        kimg = int(self.images_shown.numpy()) / 1000
        grid = self.sample_grid(phase.stage)
        samples = self.run_dir / "samples"
        samples.mkdir(exist_ok=True)
        name = f"{kimg:08.1f}kimg-{format_res(self.shapes[phase.stage])}-{phase.name}.png"
        Image.fromarray(grid).save(samples / name)
        self.write_export(phase.stage + 1, phases_done=index + 1)
        scores = self.evaluate(phase.stage) if self.cfg.eval_images else {}
        for key, value in scores.items():
            tf.summary.scalar(f"eval/{key}", value, step=int(self.images_shown.numpy()))
        record = {
            "kimg": kimg,
            "phase": index,
            "stage": phase.stage,
            "res": format_res(self.shapes[phase.stage]),
            "name": phase.name,
            "time": time.time(),
            "train_seconds": round(float(self.train_seconds.numpy()), 1),
            **self.last_losses,
            **scores,
        }
        with open(self.run_dir / METRICS_JSONL, "a") as f:
            f.write(json.dumps(record) + "\n")
        log.info("phase %d done at %.1f kimg: %s", index, kimg, samples / name)

    def evaluate(self, stage: int) -> dict[str, float | int]:
        """SWD and MS-SSIM of the EMA generator at ``stage`` on ``eval_images`` random latents."""
        reals = sample_reals(
            self.cache.arrays[self.shapes[stage]], 2 * self.cfg.eval_images, self.cfg.seed
        )
        n = len(reals) // 2
        z = seed_latents(list(range(n)), self.net.latent_dim)
        labels = self._labels_for(n)
        fakes = np.concatenate(
            [
                to_uint8(
                    self.G_ema(
                        z[i : i + 64],
                        stage=stage,
                        labels=None if labels is None else labels[i : i + 64],
                    )
                )
                for i in range(0, n, 64)
            ]
        )
        return evaluate(fakes, reals, seed=self.cfg.seed)

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
        images = to_uint8(self.G_ema(z, stage=stage, labels=labels))
        scale = max(1, 96 // images.shape[1])
        return image_grid(images.repeat(scale, axis=1).repeat(scale, axis=2), columns=cols)

    def write_export(self, stages: int, phases_done: int) -> Path:
        """The EMA G for rendering, plus the training state of this phase end (``--from``)."""
        info = {
            "dataset": self.source.name,
            "images_shown": int(self.images_shown.numpy()),
            "train_seconds": round(float(self.train_seconds.numpy()), 1),
            "preset": self.cfg.preset,
            "command": self.cfg.command,
            "seed": self.cfg.seed,
            "training": {
                "phases_done": phases_done,
                "images_shown": int(self.images_shown.numpy()),
                "train_seconds": float(self.train_seconds.numpy()),
                "config": dataclasses.asdict(self.cfg),
            },
        }
        state = {f"generator/{v.path}": v.numpy() for v in self.G.weights}
        state |= {f"discriminator/{v.path}": v.numpy() for v in self.D.weights}
        return export.write_export(self.run_dir / "export", self.G_ema, stages, info, state=state)
