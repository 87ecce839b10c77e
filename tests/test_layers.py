import math

import numpy as np
import pytest
import tensorflow as tf

from progan.layers import (
    EqualizedConv2D,
    EqualizedDense,
    downsample2x,
    minibatch_stddev,
    pixel_norm,
    upsample2x,
)


def test_conv_weights_are_unit_normal_and_scaled_by_he_constant_at_run_time():
    conv = EqualizedConv2D(64, 64, 3)
    kernel = conv.kernel.numpy()
    assert abs(kernel.std() - 1.0) < 0.02 and abs(kernel.mean()) < 0.02
    assert conv.scale == pytest.approx(math.sqrt(2 / (64 * 9)))
    x = np.random.default_rng(0).standard_normal((2, 5, 7, 64)).astype(np.float32)
    expected = tf.nn.conv2d(x, kernel * math.sqrt(2 / (64 * 9)), 1, "SAME").numpy()
    np.testing.assert_allclose(conv(x).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_dense_scale_and_to_rgb_gain_one():
    dense = EqualizedDense(512, 10)
    assert dense.scale == pytest.approx(math.sqrt(2 / 512))
    to_rgb = EqualizedConv2D(32, 3, 1, gain=1.0)
    assert to_rgb.scale == pytest.approx(1 / math.sqrt(32))
    x = np.ones((1, 512), np.float32)
    np.testing.assert_allclose(
        dense(x).numpy(), x @ (dense.kernel.numpy() * math.sqrt(2 / 512)), rtol=1e-5, atol=1e-5
    )


def test_equalized_layers_keep_activation_scale_through_depth():
    """The point of the He constant: unit-variance input stays O(1) after many layers."""
    x = tf.random.normal((8, 8, 8, 32), seed=1)
    for _ in range(8):
        x = tf.nn.leaky_relu(EqualizedConv2D(32, 32, 3)(x), 0.2)
    assert 0.2 < float(tf.math.reduce_std(x)) < 5.0


def test_pixel_norm_gives_unit_mean_square_per_pixel():
    x = np.random.default_rng(1).standard_normal((3, 4, 5, 16)).astype(np.float32) * 7
    y = pixel_norm(x).numpy()
    np.testing.assert_allclose((y**2).mean(axis=-1), 1.0, rtol=1e-5)


def test_minibatch_stddev_on_known_batch():
    # Two groups of four; in group 0 every feature is {0, 0, 2, 2} -> population std 1;
    # in group 1 every feature is constant -> std sqrt(1e-8).
    x = np.zeros((8, 2, 3, 5), np.float32)
    x[2:4] = 2.0
    x[4:8] = 3.0
    y = minibatch_stddev(x, group_size=4).numpy()
    assert y.shape == (8, 2, 3, 6)
    np.testing.assert_array_equal(y[..., :5], x)
    np.testing.assert_allclose(y[:4, ..., 5], 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[4:, ..., 5], 1e-4, rtol=1e-3)


def test_minibatch_stddev_groups_are_contiguous_so_a_split_batch_matches():
    x = np.random.default_rng(2).standard_normal((8, 3, 5, 4)).astype(np.float32)
    whole = minibatch_stddev(x, 4).numpy()[..., -1]
    halves = np.concatenate(
        [minibatch_stddev(x[:4], 4).numpy(), minibatch_stddev(x[4:], 4).numpy()]
    )
    np.testing.assert_allclose(whole, halves[..., -1], rtol=1e-6)


def test_minibatch_stddev_batch_not_multiple_of_group_uses_a_divisor():
    x = np.random.default_rng(3).standard_normal((6, 2, 2, 3)).astype(np.float32)
    y = minibatch_stddev(x, 4).numpy()[:, 0, 0, -1]
    # 6 is not a multiple of 4: groups of 3 -> two distinct values, each repeated 3 times.
    assert np.allclose(y[:3], y[0]) and np.allclose(y[3:], y[3]) and not np.isclose(y[0], y[3])


def test_upsample_is_nearest_and_downsample_is_average():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)
    up = upsample2x(x).numpy()[0, ..., 0]
    np.testing.assert_array_equal(up, np.kron(x[0, ..., 0], np.ones((2, 2))))
    np.testing.assert_allclose(downsample2x(up[None, ..., None]).numpy(), x)
