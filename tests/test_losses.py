import numpy as np
import pytest
import tensorflow as tf

from config import LossConfig
from progan.losses import critic_loss, generator_loss, gradient_norms


def test_gradient_penalty_of_a_linear_critic_is_analytic():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 5, 3)).astype(np.float32) * 0.3
    critic = lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None]  # noqa: E731
    reals = rng.standard_normal((6, 3, 5, 3)).astype(np.float32)
    fakes = rng.standard_normal((6, 3, 5, 3)).astype(np.float32)
    mix = rng.random((6, 1, 1, 1)).astype(np.float32)
    norms = gradient_norms(critic, tf.constant(reals), tf.constant(fakes), mix).numpy()
    np.testing.assert_allclose(norms, np.linalg.norm(w), rtol=1e-5)
    cfg = LossConfig()
    real_scores, fake_scores = critic(reals), critic(fakes)
    terms = critic_loss(real_scores, fake_scores, norms, cfg)
    penalty = (np.linalg.norm(w) - 1.0) ** 2
    np.testing.assert_allclose(terms["gp"].numpy(), penalty, rtol=1e-5)
    expected = (fake_scores - real_scores)[:, 0] + 10 * penalty + 0.001 * real_scores[:, 0] ** 2
    np.testing.assert_allclose(terms["loss"].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_gradient_penalty_is_taken_between_real_and_fake():
    # Critic |x|^2 / 2 has gradient x: the norm must be that of the mixed point.
    critic = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]  # noqa: E731
    reals = np.zeros((2, 1, 1, 3), np.float32)
    fakes = np.full((2, 1, 1, 3), 2.0, np.float32)
    mix = np.array([0.25, 0.5], np.float32).reshape(2, 1, 1, 1)
    norms = gradient_norms(critic, tf.constant(reals), tf.constant(fakes), mix).numpy()
    np.testing.assert_allclose(norms, [0.5 * np.sqrt(3), 1.0 * np.sqrt(3)], rtol=1e-6)


def test_drift_and_generator_loss():
    terms = critic_loss(
        np.array([[2.0]], np.float32),
        np.array([[1.0]], np.float32),
        tf.constant([1.0]),
        LossConfig(),
    )
    assert terms["drift"].numpy()[0] == pytest.approx(4.0)
    assert terms["loss"].numpy()[0] == pytest.approx(1.0 - 2.0 + 0.001 * 4.0)
    assert generator_loss(np.array([[3.0], [-1.0]], np.float32)).numpy().tolist() == [-3.0, 1.0]


def test_pixel_norm_of_a_silent_float16_pixel_is_zero_not_nan():
    """1e-8 rounds to 0 in float16 and 0 · rsqrt(0) is NaN; float16 uses 1e-4."""
    from progan.layers import pixel_norm

    silent = tf.zeros((1, 2, 2, 8), tf.float16)
    assert np.all(pixel_norm(silent).numpy() == 0)
    assert np.isnan(pixel_norm(silent, epsilon=1e-8).numpy()).all()


def test_penalty_under_float16_matches_float32_at_80x48():
    """At the 80x48 stage the float16 critic's penalty, with the inner gradient taken at a loss
    scale of 2**15 (as the trainer does under fp16), is float32's within 2 %."""
    import keras

    from config import NetworkConfig
    from progan.discriminator import Discriminator

    net = NetworkConfig(base=(3, 5), latent_dim=8, channels=(32, 32, 32, 16, 16))
    keras.utils.set_random_seed(0)
    full = Discriminator(net, 5)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        half = Discriminator(net, 5)
    finally:
        keras.config.set_dtype_policy(previous)
    for a, b in zip(half.weights, full.weights, strict=True):
        a.assign(b)
    rng = np.random.default_rng(0)
    reals, fakes = (tf.constant(rng.uniform(-1, 1, (8, 48, 80, 3)), tf.float32) for _ in "ab")
    mix = tf.constant(rng.random((8, 1, 1, 1)), tf.float32)
    exact = gradient_norms(lambda x: full(x, stage=4), reals, fakes, mix)
    scaled = gradient_norms(lambda x: half(x, stage=4), reals, fakes, mix, loss_scale=2.0**15)
    penalty = {name: tf.square(n - 1.0).numpy() for name, n in (("32", exact), ("16", scaled))}
    np.testing.assert_allclose(penalty["16"], penalty["32"], rtol=0.02)


def test_logistic_loss_and_r1_of_a_linear_critic_are_analytic():
    """R1 of a linear critic is ‖w‖² on every real; the lazy weight is γ/2 · k."""
    from progan.losses import critic_terms, generator_terms

    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 5, 3)).astype(np.float32) * 0.2
    critic = lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None]  # noqa: E731
    reals, fakes = (tf.constant(rng.standard_normal((4, 3, 5, 3)), tf.float32) for _ in "ab")
    cfg = LossConfig(kind="logistic-r1", r1_gamma=0.5, r1_every=16)
    judges = (critic, critic, critic)
    with_r1 = critic_terms(cfg, judges, reals, fakes, None, regularize=True)
    without = critic_terms(cfg, judges, reals, fakes, None, regularize=False)
    real, fake = critic(reals).numpy()[:, 0], critic(fakes).numpy()[:, 0]
    softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
    np.testing.assert_allclose(without["loss"], softplus(fake) + softplus(-real), rtol=1e-5)
    np.testing.assert_allclose(with_r1["r1"], np.sum(w**2), rtol=1e-5)
    extra = 0.5 * 0.5 * 16 * np.sum(w**2)
    np.testing.assert_allclose(with_r1["loss"] - without["loss"], extra, rtol=1e-4)
    assert "r1" not in without
    np.testing.assert_allclose(generator_terms(cfg, critic(fakes)), softplus(-fake), rtol=1e-5)
    wgan = generator_terms(LossConfig(), critic(fakes))
    np.testing.assert_allclose(wgan, -fake, rtol=1e-6)
