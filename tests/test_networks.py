import numpy as np
import pytest

from config import PRESETS, NetworkConfig
from progan.discriminator import Discriminator
from progan.generator import Generator
from progan.layers import downsample2x, upsample2x
from progan.resolution import stage_shapes

TINY = (8, 8, 8, 6, 6, 4, 4, 4, 4)


@pytest.mark.parametrize("base", [(3, 5), (4, 4)])
def test_shapes_at_every_stage(base):
    net = NetworkConfig(base=base, latent_dim=8, channels=TINY)
    G, D = Generator(net, 9), Discriminator(net, 9)
    z = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    for stage, (h, w) in enumerate(stage_shapes(base, 9)):
        for fading in [False, True] if stage else [False]:
            images = G(z, stage=stage, alpha=0.5, fading=fading)
            assert images.shape == (2, h, w, 3)
            assert D(images, stage=stage, alpha=0.5, fading=fading).shape == (2, 1)
    assert (h, w) == ((768, 1280) if base == (3, 5) else (1024, 1024))


def test_paper_preset_channels_halve_after_32px():
    channels = PRESETS["paper"].network.channels
    assert channels[:4] == (512,) * 4 and channels[4:] == (256, 128, 64, 32, 16)
    assert PRESETS["paper"].network.latent_dim == 512


@pytest.fixture(scope="module")
def nets():
    net = NetworkConfig(base=(3, 5), latent_dim=16, channels=(16, 16, 12, 8))
    return Generator(net, 4), Discriminator(net, 4)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_generator_fade_in_starts_at_upsampled_previous_stage(nets, stage):
    G, _ = nets
    z = np.random.default_rng(stage).standard_normal((4, 16)).astype(np.float32)
    previous = G(z, stage=stage - 1).numpy()
    start = G(z, stage=stage, alpha=0.0, fading=True).numpy()
    np.testing.assert_allclose(start, upsample2x(previous).numpy(), rtol=1e-5, atol=1e-6)
    end = G(z, stage=stage, alpha=1.0, fading=True).numpy()
    np.testing.assert_allclose(end, G(z, stage=stage).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(start, end, atol=1e-3)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_discriminator_fade_in_starts_at_previous_score_on_downsampled_image(nets, stage):
    _, D = nets
    h, w = 3 << stage, 5 << stage
    x = np.random.default_rng(stage).standard_normal((4, h, w, 3)).astype(np.float32)
    start = D(x, stage=stage, alpha=0.0, fading=True).numpy()
    previous = D(downsample2x(x), stage=stage - 1).numpy()
    np.testing.assert_allclose(start, previous, rtol=1e-5, atol=1e-5)
    end = D(x, stage=stage, alpha=1.0, fading=True).numpy()
    np.testing.assert_allclose(end, D(x, stage=stage).numpy(), rtol=1e-5, atol=1e-5)


def test_fade_is_linear_in_alpha(nets):
    G, _ = nets
    z = np.random.default_rng(9).standard_normal((2, 16)).astype(np.float32)
    a, b, mid = (G(z, stage=2, alpha=t, fading=True).numpy() for t in (0.0, 1.0, 0.25))
    np.testing.assert_allclose(mid, 0.75 * a + 0.25 * b, rtol=1e-4, atol=1e-5)


def test_stage_variables_cover_exactly_the_layers_used(nets):
    G, D = nets
    import tensorflow as tf

    z = tf.constant(np.ones((4, 16), np.float32))
    for stage, fading in [(0, False), (2, True), (3, False)]:
        with tf.GradientTape() as tape:
            out = G(z, stage=stage, alpha=0.5, fading=fading)
        grads = tape.gradient(out, G.trainable_variables)
        used = {v.path for v, g in zip(G.trainable_variables, grads, strict=True) if g is not None}
        assert used == {v.path for v in G.stage_variables(stage, fading)}
        x = tf.constant(np.ones((4, 3 << stage, 5 << stage, 3), np.float32))
        with tf.GradientTape() as tape:
            score = D(x, stage=stage, alpha=0.5, fading=fading)
        grads = tape.gradient(score, D.trainable_variables)
        used = {v.path for v, g in zip(D.trainable_variables, grads, strict=True) if g is not None}
        assert used == {v.path for v in D.stage_variables(stage, fading)}
