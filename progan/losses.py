"""The two losses a run can train with, as per-example terms: WGAN-GP with the paper's drift
term, and the non-saturating logistic loss with a (lazy) R1 penalty on the reals.

Per-example vectors (not means) are returned so that the trainer can average them over the
*global* batch under a distribution strategy; a mean per replica would weight replicas wrongly.
:func:`critic_terms` and :func:`generator_terms` are the one place the step asks for a loss; the
kind is ``LossConfig.kind``.
"""

from __future__ import annotations

from collections.abc import Callable

from keras import ops

from config import LossConfig
from progan.backend import input_gradient


def gradient_norms(critic: Callable, reals, fakes, epsilon, loss_scale=None):
    """``‖∇D(x̂)‖`` per image at ``x̂ = reals + ε·(fakes − reals)``, the points WGAN-GP penalises.

    ``epsilon`` has shape N×1×1×1 (uniform in [0, 1]); it is an argument rather than drawn here
    so that a resumed or distributed run sees exactly the same numbers. Under float16 the inner
    gradient flows through half-precision layers where small values underflow, so the scores
    are multiplied by ``loss_scale`` before it is taken and the gradient divided after, as the
    official code scales and unscales it.
    """
    mixed = reals + (fakes - reals) * ops.cast(epsilon, reals.dtype)
    return scores_and_gradient_norms(critic, mixed, loss_scale)[1]


def scores_and_gradient_norms(critic: Callable, images, loss_scale=None):
    """``D(x)`` (N×1, float32) and ``‖∇ₓD(x)‖`` per image, in one pass (see gradient_norms)."""

    def objective(x):
        scores = ops.cast(critic(x), "float32")
        total = ops.sum(scores)  # its gradient holds every image's own gradient
        if loss_scale is not None:
            total = total * ops.cast(loss_scale, "float32")
        return total, scores

    scores, grads = input_gradient(objective, images)
    grads = ops.cast(grads, "float32")
    if loss_scale is not None:
        grads = grads / ops.cast(loss_scale, "float32")
    return scores, ops.sqrt(ops.sum(ops.square(grads), axis=[1, 2, 3]))


def _flat(scores):
    return ops.reshape(ops.cast(scores, "float32"), [-1])


def critic_loss(real_scores, fake_scores, gp_norms, cfg: LossConfig) -> dict:
    """Per-example terms of D's loss and their sum under ``'loss'``."""
    real, fake = _flat(real_scores), _flat(fake_scores)
    penalty = ops.square(gp_norms - cfg.gp_target) / (cfg.gp_target**2)
    drift = ops.square(real)
    loss = fake - real + cfg.gp_lambda * penalty + cfg.drift * drift
    return {"loss": loss, "wasserstein": real - fake, "gp": penalty, "drift": drift}


def generator_loss(fake_scores):
    """Per-example ``−D(G(z))``."""
    return -_flat(fake_scores)


def logistic_critic_loss(real_scores, fake_scores, r1_norms, cfg: LossConfig) -> dict:
    """``softplus(D(fake)) + softplus(−D(real))``, plus ``γ/2·‖∇D(real)‖²·k`` on the steps that
    regularise (``r1_norms`` given; ``k = r1_every`` makes up for the steps without)."""
    real, fake = _flat(real_scores), _flat(fake_scores)
    loss = ops.softplus(fake) + ops.softplus(-real)
    terms = {"real_score": real, "fake_score": fake}
    if r1_norms is not None:
        r1 = ops.square(r1_norms)
        loss += 0.5 * cfg.r1_gamma * cfg.r1_every * r1
        terms["r1"] = r1
    return {"loss": loss, **terms}


def critic_terms(
    cfg: LossConfig,
    judges: tuple[Callable, Callable, Callable],
    reals,
    fakes,
    mix,
    regularize: bool = True,
    loss_scale=None,
) -> dict:
    """D's per-example loss (``'loss'``) and the terms worth logging, for ``cfg.kind``.

    ``judges`` map images to scores for the reals, the fakes and WGAN-GP's mixed images (the
    same critic, each with its own augmentation); ``mix`` (N×1×1×1) places the mixed images;
    ``regularize`` is whether this step takes the lazy R1 penalty (ignored by WGAN-GP, whose
    penalty is part of every step). R1 is the gradient at the reals as their judge sees them.
    """
    real_judge, fake_judge, mixed_judge = judges
    if cfg.kind == "wgan-gp":
        norms = gradient_norms(mixed_judge, reals, fakes, mix, loss_scale)
        return critic_loss(real_judge(reals), fake_judge(fakes), norms, cfg)
    if regularize:
        real_scores, norms = scores_and_gradient_norms(real_judge, reals, loss_scale)
    else:
        real_scores, norms = real_judge(reals), None
    return logistic_critic_loss(real_scores, fake_judge(fakes), norms, cfg)


def generator_terms(cfg: LossConfig, fake_scores):
    """G's per-example loss: ``−D(G(z))`` for WGAN-GP, ``softplus(−D(G(z)))`` (non-saturating)
    for the logistic loss."""
    if cfg.kind == "wgan-gp":
        return generator_loss(fake_scores)
    return ops.softplus(-_flat(fake_scores))
