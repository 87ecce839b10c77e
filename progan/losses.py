"""WGAN-GP with the paper's drift term, as per-example losses.

Per-example vectors (not means) are returned so that the trainer can average them over the
*global* batch under a distribution strategy; a mean per replica would weight replicas wrongly.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from config import LossConfig


def gradient_norms(
    critic: Callable[[tf.Tensor], tf.Tensor], reals, fakes, epsilon, loss_scale=None
):
    """``‖∇D(x̂)‖`` per image at ``x̂ = reals + ε·(fakes − reals)``, the points WGAN-GP penalises.

    ``epsilon`` has shape N×1×1×1 (uniform in [0, 1]); it is an argument rather than drawn here
    so that a resumed or distributed run sees exactly the same numbers. Under float16 the inner
    gradient flows through half-precision layers where small values underflow, so the scores
    are multiplied by ``loss_scale`` before it is taken and the gradient divided after, as the
    official code scales and unscales it.
    """
    mixed = reals + (fakes - reals) * tf.cast(epsilon, reals.dtype)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = tf.cast(critic(mixed), tf.float32)
        if loss_scale is not None:
            scores = scores * tf.cast(loss_scale, tf.float32)
    grads = tf.cast(tape.gradient(scores, mixed), tf.float32)  # of the sum of the scores
    if loss_scale is not None:
        grads = grads / tf.cast(loss_scale, tf.float32)
    return tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))


def critic_loss(real_scores, fake_scores, gp_norms, cfg: LossConfig) -> dict[str, tf.Tensor]:
    """Per-example terms of D's loss and their sum under ``'loss'``."""
    real = tf.reshape(tf.cast(real_scores, tf.float32), [-1])
    fake = tf.reshape(tf.cast(fake_scores, tf.float32), [-1])
    penalty = tf.square(gp_norms - cfg.gp_target) / (cfg.gp_target**2)
    drift = tf.square(real)
    loss = fake - real + cfg.gp_lambda * penalty + cfg.drift * drift
    return {"loss": loss, "wasserstein": real - fake, "gp": penalty, "drift": drift}


def generator_loss(fake_scores) -> tf.Tensor:
    """Per-example ``−D(G(z))``."""
    return -tf.reshape(tf.cast(fake_scores, tf.float32), [-1])
