import numpy as np
import pytest

from config import PRESETS, NetworkConfig
from progan.discriminator import Discriminator
from progan.generator import Generator
from progan.layers import downsample2x, pixel_norm, upsample2x
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


COLOR_CLASSES = ("blue", "green", "red")


@pytest.fixture(
    scope="module",
    params=[
        ((), "latent", False),
        (COLOR_CLASSES, "latent", False),
        (COLOR_CLASSES, "rgb", False),
        ((), "latent", True),
    ],
    ids=["unconditional", "conditional", "conditional-rgb", "noise-inputs"],
)
def nets(request):
    classes, entry, noise = request.param
    net = NetworkConfig(
        base=(3, 5),
        latent_dim=16,
        channels=(16, 16, 12, 8),
        classes=classes,
        label_entry=entry,
        noise_inputs=noise,
    )
    G = Generator(net, 4)
    for block in G.blocks:  # trained strengths, not the zeros they start at
        for noise_input in block.noise:
            noise_input.strength.assign(np.full(noise_input.strength.shape, 0.5, np.float32))
    return G, Discriminator(net, 4)


def labels_of(net: NetworkConfig, count: int):
    """Every class in turn for a conditional network, None for an unconditional one."""
    return np.arange(count, dtype=np.int32) % net.num_classes if net.num_classes else None


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_generator_fade_in_starts_at_upsampled_previous_stage(nets, stage):
    G, _ = nets
    z = np.random.default_rng(stage).standard_normal((4, 16)).astype(np.float32)
    y = labels_of(G.net, 4)
    previous = G(z, stage=stage - 1, labels=y).numpy()
    start = G(z, stage=stage, alpha=0.0, fading=True, labels=y).numpy()
    np.testing.assert_allclose(start, upsample2x(previous).numpy(), rtol=1e-5, atol=1e-6)
    end = G(z, stage=stage, alpha=1.0, fading=True, labels=y).numpy()
    np.testing.assert_allclose(end, G(z, stage=stage, labels=y).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(start, end, atol=1e-3)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_discriminator_fade_in_starts_at_previous_score_on_downsampled_image(nets, stage):
    _, D = nets
    h, w = 3 << stage, 5 << stage
    x = np.random.default_rng(stage).standard_normal((4, h, w, 3)).astype(np.float32)
    y = labels_of(D.net, 4)
    start = D(x, stage=stage, alpha=0.0, fading=True, labels=y).numpy()
    previous = D(downsample2x(x), stage=stage - 1, labels=y).numpy()
    np.testing.assert_allclose(start, previous, rtol=1e-5, atol=1e-5)
    end = D(x, stage=stage, alpha=1.0, fading=True, labels=y).numpy()
    np.testing.assert_allclose(end, D(x, stage=stage, labels=y).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("entry", ["latent", "rgb"])
def test_one_latent_in_two_classes_gives_two_images_and_one_class_gives_the_same_twice(entry):
    net = NetworkConfig(
        base=(3, 5), latent_dim=16, channels=(16, 16), classes=COLOR_CLASSES, label_entry=entry
    )
    G = Generator(net, 2)
    z = np.repeat(np.random.default_rng(3).standard_normal((1, 16)).astype(np.float32), 2, 0)
    two = G(z, stage=1, labels=np.array([0, 2])).numpy()
    assert np.abs(two[0] - two[1]).mean() > 1e-2
    same = G(z, stage=1, labels=np.array([1, 1])).numpy()
    np.testing.assert_allclose(same[0], same[1], atol=1e-5)
    alone = G(z[:1], stage=1, labels=np.array([2])).numpy()[0]
    np.testing.assert_allclose(alone, two[1], atol=1e-5)


def test_rgb_entry_is_the_class_toRGB_on_features_that_ignore_the_class():
    """With label_entry="rgb" a class picks a 1×1 conv over the same features: the item is the
    latent's, the class only its color."""
    net = NetworkConfig(
        base=(3, 5), latent_dim=16, channels=(16, 12), classes=COLOR_CLASSES, label_entry="rgb"
    )
    G = Generator(net, 2)
    assert G.stem.embedding is None
    z = np.repeat(np.random.default_rng(5).standard_normal((1, 16)).astype(np.float32), 3, 0)
    features = G.blocks[0](G.stem(z)).numpy()
    conv = G.to_rgb[1].conv
    kernel = conv.kernel.numpy()[0, 0] * conv.scale
    bias = conv.bias.numpy()
    y = np.array([2, 0, 1], np.int32)
    expected = np.stack(
        [
            features[i] @ kernel[:, 3 * c : 3 * c + 3] + bias[3 * c : 3 * c + 3]
            for i, c in enumerate(y)
        ]
    )
    np.testing.assert_allclose(G(z, stage=1, labels=y).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_projection_term_equals_its_formula_on_a_known_batch():
    """D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩, with φ the head's dense features."""
    import tensorflow as tf

    from progan.layers import leaky_relu, minibatch_stddev

    net = NetworkConfig(base=(3, 5), latent_dim=8, channels=(8, 8), classes=COLOR_CLASSES)
    D = Discriminator(net, 2)
    x = np.random.default_rng(4).standard_normal((4, 6, 10, 3)).astype(np.float32)
    y = np.array([2, 0, 1, 2], np.int32)
    head = D.head
    h = D.blocks[0](leaky_relu(D.from_rgb[1](x)))
    h = leaky_relu(head.conv(minibatch_stddev(h, 4)))
    phi = leaky_relu(head.dense(tf.reshape(h, (4, -1)))).numpy()
    psi = phi @ (head.score.kernel.numpy() * head.score.scale) + head.score.bias.numpy()
    table = head.projection.table.numpy() / np.sqrt(8)
    expected = psi[:, 0] + np.sum(table[y] * phi, axis=1)
    np.testing.assert_allclose(D(x, stage=1, labels=y).numpy()[:, 0], expected, rtol=1e-5)
    other = D(x, stage=1, labels=(y + 1) % 3).numpy()[:, 0]
    assert not np.allclose(other, expected, atol=1e-4)


def test_labels_go_with_conditional_networks_only():
    plain = NetworkConfig(base=(3, 5), latent_dim=8, channels=(8,))
    conditional = NetworkConfig(base=(3, 5), latent_dim=8, channels=(8,), classes=COLOR_CLASSES)
    z = np.zeros((2, 8), np.float32)
    with pytest.raises(ValueError, match="takes no labels"):
        Generator(plain, 1)(z, stage=0, labels=np.array([0, 1]))
    with pytest.raises(ValueError, match="needs labels"):
        Discriminator(conditional, 1)(np.zeros((2, 3, 5, 3), np.float32), stage=0)


def test_fade_is_linear_in_alpha(nets):
    G, _ = nets
    z = np.random.default_rng(9).standard_normal((2, 16)).astype(np.float32)
    y = labels_of(G.net, 2)
    a, b, mid = (G(z, stage=2, alpha=t, fading=True, labels=y).numpy() for t in (0.0, 1.0, 0.25))
    np.testing.assert_allclose(mid, 0.75 * a + 0.25 * b, rtol=1e-4, atol=1e-5)


def test_stage_variables_cover_exactly_the_layers_used(nets):
    G, D = nets
    import tensorflow as tf

    z = tf.constant(np.ones((4, 16), np.float32))
    y = labels_of(G.net, 4)
    for stage, fading in [(0, False), (2, True), (3, False)]:
        with tf.GradientTape() as tape:
            out = G(z, stage=stage, alpha=0.5, fading=fading, labels=y)
        grads = tape.gradient(out, G.trainable_variables)
        used = {v.path for v, g in zip(G.trainable_variables, grads, strict=True) if g is not None}
        assert used == {v.path for v in G.stage_variables(stage, fading)}
        x = tf.constant(np.ones((4, 3 << stage, 5 << stage, 3), np.float32))
        with tf.GradientTape() as tape:
            score = D(x, stage=stage, alpha=0.5, fading=fading, labels=y)
        grads = tape.gradient(score, D.trainable_variables)
        used = {v.path for v, g in zip(D.trainable_variables, grads, strict=True) if g is not None}
        assert used == {v.path for v in D.stage_variables(stage, fading)}


@pytest.mark.parametrize("base, classes", [((4, 4), ()), ((3, 5), ("red", "white"))])
def test_first_layer_gain_and_head_fan_in_follow_their_formulas(base, classes):
    """G's dense layer: gain √2/√(H·W) (the official √2/4 at 4×4) over fan-in latent (+ label
    embedding); D's dense layer: He gain over fan-in H·W·C; the score: gain 1 over C."""
    net = NetworkConfig(base=base, latent_dim=16, channels=(8, 8), classes=classes)
    G, D = Generator(net, 2), Discriminator(net, 2)
    h, w = base
    fan_in = 16 * (2 if classes else 1)
    assert G.stem.dense.scale == pytest.approx(np.sqrt(2) / np.sqrt(h * w) / np.sqrt(fan_in))
    if base == (4, 4):
        assert G.stem.dense.scale * np.sqrt(fan_in) == pytest.approx(np.sqrt(2) / 4)
    assert D.head.dense.scale == pytest.approx(np.sqrt(2) / np.sqrt(h * w * 8))
    assert D.head.score.scale == pytest.approx(1 / np.sqrt(8))
    assert G.stem.dense.kernel.shape == (fan_in, h * w * 8)


def test_noise_inputs_give_every_latent_its_own_fixed_white_noise():
    """The noise of a 96x160 block: one map per latent, ~N(0, 1) over its pixels and nearly
    uncorrelated between neighbours; the same latent draws the same map (in another network
    too: the taps are fixed by the layer's name), and the map is linear in the latent, so an
    interpolation moves it smoothly."""
    net = NetworkConfig(base=(3, 5), latent_dim=128, channels=(8,) * 6, noise_inputs=True)

    def noise_of(z):
        layer = Generator(net, 6).blocks[4].noise[1]
        layer.strength.assign(np.ones(layer.strength.shape, np.float32))
        return layer(np.zeros((len(z), 96, 160, 8), np.float32), pixel_norm(z)).numpy()[..., 0]

    z = np.random.default_rng(0).standard_normal((4, 128)).astype(np.float32)
    maps = noise_of(z)
    assert maps.shape == (4, 96, 160)
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), 0, atol=0.05)
    np.testing.assert_allclose(maps.std(axis=(1, 2)), 1, atol=0.05)
    for image in maps:
        assert abs(np.corrcoef(image[:, :-1].ravel(), image[:, 1:].ravel())[0, 1]) < 0.1
        assert abs(np.corrcoef(image[:-1].ravel(), image[1:].ravel())[0, 1]) < 0.1
    assert np.abs(maps[0] - maps[1]).mean() > 1
    np.testing.assert_array_equal(noise_of(z), maps)
    unit = z / np.sqrt(np.mean(z**2, axis=1, keepdims=True))
    mixed = noise_of(0.3 * unit[:1] + 0.7 * unit[1:2])  # already of unit mean square: unscaled
    scale = np.sqrt(np.mean((0.3 * unit[0] + 0.7 * unit[1]) ** 2))
    np.testing.assert_allclose(mixed[0] * scale, 0.3 * maps[0] + 0.7 * maps[1], atol=1e-4)


def test_for_data_without_color_the_color_ends_start_alike_else_independent():
    import dataclasses

    net = NetworkConfig(base=(3, 5), latent_dim=8, channels=TINY)
    for layer in Generator(net, 3, color_blind=True).to_rgb:
        kernel = layer.kernel.numpy()
        np.testing.assert_array_equal(kernel[..., 0], kernel[..., 1])
        np.testing.assert_array_equal(kernel[..., 1], kernel[..., 2])
        assert kernel[..., 0].std() > 0.5  # still a random N(0, 1) draw
    for layer in Discriminator(net, 3, color_blind=True).from_rgb:
        kernel = layer.kernel.numpy()  # 1×1×3×maps: the three inputs share their weights
        assert (kernel == kernel[:, :, :1]).all() and kernel.std() > 0.5
    per_class = dataclasses.replace(net, classes=("a", "b"), label_entry="rgb")
    kernel = Generator(per_class, 2, color_blind=True).to_rgb[1].conv.kernel.numpy()
    kernel = kernel.reshape(1, 1, -1, 2, 3)
    assert (kernel == kernel[..., :1]).all()  # each class's three colors alike
    assert not np.allclose(kernel[..., 0, 0], kernel[..., 1, 0])  # the classes apart
    # colored data: every color its own draw (a start alike stayed grey on colored shapes)
    kernel = Generator(net, 3).to_rgb[0].kernel.numpy()
    assert not np.allclose(kernel[..., 0], kernel[..., 1])
    kernel = Discriminator(net, 3).from_rgb[0].kernel.numpy()
    assert not np.allclose(kernel[:, :, 0], kernel[:, :, 1])
