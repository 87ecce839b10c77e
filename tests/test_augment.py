"""DiffAugment's translation and cutout: exact on known numbers, differentiable, seeded."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from progan.augment import augment, cutout, translate


def ramp(n: int = 2, height: int = 8, width: int = 16) -> tf.Tensor:
    values = np.arange(n * height * width * 3, dtype=np.float32).reshape(n, height, width, 3) + 1
    return tf.constant(values)


def test_translation_moves_each_image_by_its_own_shift_and_fills_with_zeros():
    x = ramp()
    # reach 1 row (8/8) and 2 columns (16/8): u picks one of 2r+1 shifts, -r..r
    u = tf.constant([[0.0, 0.999], [0.5, 0.5]], tf.float32)
    moved = translate(x, u).numpy()
    first = np.zeros_like(x.numpy()[0])
    first[:-1, 2:] = x.numpy()[0, 1:, :-2]  # one row up, two columns right
    np.testing.assert_array_equal(moved[0], first)
    np.testing.assert_array_equal(moved[1], x.numpy()[1])  # the middle number: no shift


def test_cutout_zeroes_half_of_each_side_around_its_centre():
    x = ramp(1)
    holed = cutout(x, tf.constant([[0.5, 0.5]], tf.float32)).numpy()[0]
    zero = np.all(holed == 0, axis=-1)
    rows, cols = np.nonzero(zero)
    assert zero.sum() == 4 * 8  # a 4×8 hole in an 8×16 image
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 5, 4, 11)
    np.testing.assert_array_equal(holed[~zero], x.numpy()[0][~zero])


def test_augmentation_is_differentiable_and_a_function_of_its_numbers():
    x = ramp()
    u = tf.constant(np.random.default_rng(0).random((2, 4)), tf.float32)
    policy = ("translation", "cutout")
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(augment(x, u, policy))
    grad = tape.gradient(total, x).numpy()
    kept = augment(tf.ones_like(x), u, policy).numpy()
    # d(sum)/dx is 1 where a pixel survives (shifted in, not cut out), 0 elsewhere
    assert set(np.unique(grad)) <= {0.0, 1.0} and grad.sum() == kept.sum() > 0
    np.testing.assert_array_equal(augment(x, u, policy), augment(x, u, policy))
    np.testing.assert_array_equal(augment(x, u, ()), x)
