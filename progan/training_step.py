"""The training step: what one step computes, and the models and optimizers it updates.

One step is ``n_critic`` critic updates on the batch's reals (faded like G's output during a
fade-in), one generator update and the EMA of G, written once with ``keras.ops``;
:mod:`progan.backend` takes its gradients and compiles it under TensorFlow or JAX. The losses
and the penalty are :mod:`progan.losses`' calls; which variables a phase trains is the networks'
``stage_variables``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable
from pathlib import Path

import keras
from keras import ops

from config import MIXED_PRECISION_MODES, LossConfig, TrainConfig
from progan import backend
from progan.augment import augment
from progan.discriminator import Discriminator
from progan.errors import ProganError
from progan.generator import Generator
from progan.layers import downsample2x, fade, upsample2x
from progan.losses import critic_terms, generator_terms
from progan.schedule import Phase, ema_beta

log = logging.getLogger(__name__)
# jit="auto": a phase of fewer steps keeps the plain step (a second compilation would not pay);
# a longer one times each candidate on this many steps after its first.
AUTO_JIT_MIN_STEPS = 200
AUTO_JIT_TRIALS = 5
DTYPE_POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@dataclasses.dataclass
class Models:
    """G, D and the EMA of G, and the two Adams of the current phase (replaced at phase ends)."""

    G: Generator
    D: Discriminator
    G_ema: Generator
    strategy: object | None = None  # a tf.distribute strategy, under TensorFlow
    precision: str = "off"
    g_opt: keras.optimizers.Optimizer | None = None
    d_opt: keras.optimizers.Optimizer | None = None

    @property
    def weights(self) -> list:
        return [*self.G.weights, *self.D.weights, *self.G_ema.weights]

    def scope(self):
        return variable_scope(self.strategy)


def variable_scope(strategy):
    """Where variables are made: the strategy's scope under TensorFlow."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


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


def build_models(
    cfg: TrainConfig, net, num_stages: int, strategy, color_blind: bool = False
) -> Models:
    """The run's networks, seeded by ``cfg.seed``, in its precision; the EMA starts as G.
    ``color_blind``: their color ends start alike (a 3-channel run of data without color)."""
    precision = resolve_mixed_precision(cfg.mixed_precision)
    if cfg.mixed_precision == "auto":
        log.info("--mixed-precision auto: %s", DTYPE_POLICIES[precision])
    elif precision == "bf16" and not (backend.has_gpu() or cpu_has_native_bf16()):
        log.warning(
            "bf16 without a GPU or a CPU with AVX512_BF16/AMX runs on a slow path (conv "
            "gradients measured 25x slower than float32 on an AVX2 CPU); consider --jit instead"
        )
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(DTYPE_POLICIES[precision])
    try:
        with variable_scope(strategy):
            keras.utils.set_random_seed(cfg.seed)
            G = Generator(net, num_stages, color_blind, name="generator")
            D = Discriminator(net, num_stages, color_blind, name="discriminator")
            G_ema = Generator(net, num_stages, color_blind, name="generator_ema")
            for ema, live in zip(G_ema.weights, G.weights, strict=True):
                ema.assign(live)
    finally:
        keras.config.set_dtype_policy(previous)
    return Models(G, D, G_ema, strategy, precision)


def adam_ratios(loss: LossConfig) -> tuple[float, float]:
    """G's and D's step ratio c: lazy R1 regularises D on one step in k, so StyleGAN2 runs
    D's Adam at lr·c, β**c with c = k/(k+1)."""
    return 1.0, (loss.r1_every / (loss.r1_every + 1) if loss.kind == "logistic-r1" else 1.0)


def new_optimizers(models: Models, cfg: TrainConfig, phase: Phase) -> None:
    """Fresh Adam state for each phase, as the official code resets it at every lod change."""
    opt = cfg.optimizer

    def adam(ratio: float) -> keras.optimizers.Optimizer:
        made = keras.optimizers.Adam(
            learning_rate=opt.learning_rate * ratio,
            beta_1=opt.beta_1**ratio,
            beta_2=opt.beta_2**ratio,
            epsilon=opt.epsilon,
        )
        return keras.optimizers.LossScaleOptimizer(made) if models.precision == "fp16" else made

    with models.scope():
        models.g_opt, models.d_opt = (adam(ratio) for ratio in adam_ratios(cfg.loss))
        models.g_opt.build(models.G.stage_variables(phase.stage, phase.fading))
        models.d_opt.build(models.D.stage_variables(phase.stage, phase.fading))


def learning_rate(cfg: TrainConfig, phases: list[Phase], index: int) -> float:
    """Adam's rate in phase ``index``: the optimizer's, except in the final training with a
    ``final_lr``, where chunk k of K runs at lr·(final_lr/lr)^((k+1)/K)."""
    rate, final_rate = cfg.optimizer.learning_rate, cfg.schedule.final_lr
    finals = [i for i, phase in enumerate(phases) if phase.final]
    if final_rate is None or index not in finals:
        return rate
    return rate * (final_rate / rate) ** ((finals.index(index) + 1) / len(finals))


def set_learning_rate(models: Models, cfg: TrainConfig, rate: float) -> None:
    """Give the Adams that carry on (a resume, a final chunk) the rate ``rate``."""
    g_ratio, d_ratio = adam_ratios(cfg.loss)
    models.g_opt.learning_rate, models.d_opt.learning_rate = rate * g_ratio, rate * d_ratio


def new_in_phase(G: Generator, phase: Phase) -> list:
    """The variables of G that ``phase`` trains for the first time: a fade-in's new block and
    toRGB (none in a stabilize phase, whose variables the fade-in before it trained)."""
    if not phase.fading:
        return []
    older = stage_ids(G, range(phase.stage))
    return [v for v in G.stage_variables(phase.stage, True) if id(v) not in older]


def stage_ids(model, stages: range) -> set[int]:
    """The ids of the variables of ``model`` that the steps at ``stages`` touch."""
    return {id(v) for stage in stages for v in model.stage_variables(stage, fading=stage > 0)}


def make_step(
    models: Models,
    cfg: TrainConfig,
    phase: Phase,
    batch_size: int,
    regularize: bool = True,
    steps: int = 0,
    where: str = "",
) -> Callable:
    """One training step: ``n_critic`` critic updates, one generator update, the EMA.

    ``regularize``: whether the critic takes the lazy R1 penalty in this step (the logistic
    loss compiles a step with it and one without; WGAN-GP's penalty is in every step).
    ``steps``: how many the phase has left, which decides whether ``jit="auto"`` tries XLA
    against the plain step (TensorFlow on one device; XLA's CPU collectives crash a multi-worker
    step) or keeps the plain one; ``where`` names the phase in the log line of that choice.
    """
    tries_both = (
        cfg.jit == "auto"
        and backend.name() == "tensorflow"
        and cfg.strategy == "default"
        and steps >= AUTO_JIT_MIN_STEPS
    )
    if not tries_both:
        return compile_step(models, cfg, phase, batch_size, regularize, cfg.jit == "on")

    def report(chosen: str, medians: dict[str, float]) -> None:
        times = ", ".join(
            f"{name} {1e3 * t:.1f} ms" if math.isfinite(t) else f"{name} out of memory"
            for name, t in medians.items()
        )
        log.info("%s step: %s; keeping %s", where, times, chosen)

    return backend.fastest_step(
        {
            "plain": compile_step(models, cfg, phase, batch_size, regularize, False),
            "XLA": compile_step(models, cfg, phase, batch_size, regularize, True),
        },
        AUTO_JIT_TRIALS,
        report,
    )


def compile_step(
    models: Models, cfg: TrainConfig, phase: Phase, batch_size: int, regularize: bool, jit: bool
) -> Callable:
    """The step of :func:`make_step`, compiled once (with XLA when ``jit``)."""
    G, D, g_opt, d_opt = models.G, models.D, models.g_opt, models.d_opt
    stage, fading, loss_cfg, policy = phase.stage, phase.fading, cfg.loss, cfg.augment
    g_vars = G.stage_variables(stage, fading)
    d_vars = D.stage_variables(stage, fading)
    ema_pairs = list(zip(models.G_ema.stage_variables(stage, fading), g_vars, strict=True))
    # The half-life counts every image a step shows, the critic's n_critic batches included.
    per_step = batch_size * cfg.schedule.n_critic
    beta = ema_beta(cfg.schedule.ema_kimg, per_step)
    fresh = {id(v) for v in new_in_phase(G, phase)}
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
        for i in range(cfg.schedule.n_critic):
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

    def update_ema(alpha):
        # a fade-in's alpha is the share of its images shown: its new variables' average spans
        # ema_rampup of those, at least one step and at most ema_kimg
        fresh_beta = beta
        if fresh:
            half_life = ops.clip(
                cfg.schedule.ema_rampup * alpha * phase.images,
                per_step,
                cfg.schedule.ema_kimg * 1e3,
            )
            fresh_beta = ops.power(0.5, per_step / half_life)
        for ema, live in ema_pairs:
            decay = fresh_beta if id(live) in fresh else beta
            ema.assign(live + decay * (ema - live))

    everything = [*models.weights, *g_opt.variables, *d_opt.variables]
    return backend.compile_step(
        replica_step,
        update_ema,
        everything,
        models.strategy,
        jit,
        data_parallel=models.strategy is None and cfg.strategy == "mirrored",
    )
