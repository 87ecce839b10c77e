"""The building blocks the paper adds to a plain conv net, written with ``keras.ops``.

Equalized learning rate keeps every weight ~N(0, 1) and applies the He constant at run time, so
Adam's per-parameter step sizes act on the same scale in every layer; that is why the scale is a
constant multiplied in ``call`` rather than baked into the initializer.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from config import NetworkConfig

HE_GAIN = math.sqrt(2.0)


class EqualizedDense(keras.layers.Layer):
    """Dense layer whose kernel is scaled by ``gain / sqrt(fan_in)`` at every call."""

    def __init__(self, in_features: int, units: int, gain: float = HE_GAIN, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = gain / math.sqrt(in_features)
        self.kernel = self.add_weight(
            shape=(in_features, units),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            name="kernel",
        )
        self.bias = self.add_weight(shape=(units,), initializer="zeros", name="bias")
        self.built = True

    def call(self, x):
        return ops.matmul(x, self.kernel * self.scale) + self.bias


class Alike(keras.initializers.Initializer):
    """N(0, 1) kernels whose entries along ``axis`` come in runs of ``size`` equal ones.

    The networks' ends in color space start color-blind with it: a toRGB whose three outputs
    are one random mix of the features draws grey, a fromRGB whose three inputs share their
    weights sees only brightness. Color is then learned from the data alone. Independent random
    draws instead gave both networks random color preferences that grey data never corrects
    (reals carry no signal in chroma), and a generator chasing the critic's showed every new
    stage tinted.
    """

    def __init__(self, size: int, axis: int = -1) -> None:
        self.size, self.axis = size, axis

    def __call__(self, shape, dtype=None):
        axis = self.axis % len(shape)
        drawn = list(shape)
        drawn[axis] //= self.size
        values = keras.initializers.RandomNormal(0.0, 1.0)(tuple(drawn), dtype)
        return ops.repeat(values, self.size, axis=axis)


class EqualizedConv2D(keras.layers.Layer):
    """Stride-1 'same' convolution with the equalized learning-rate scale (NHWC).

    ``initializer``: the kernel's (default N(0, 1); :class:`Alike` for the color ends).
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel_size: int = 3,
        gain: float = HE_GAIN,
        initializer: keras.initializers.Initializer | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.kernel = self.add_weight(
            shape=(kernel_size, kernel_size, in_channels, filters),
            initializer=initializer or keras.initializers.RandomNormal(0.0, 1.0),
            name="kernel",
        )
        self.bias = self.add_weight(shape=(filters,), initializer="zeros", name="bias")
        self.built = True

    def call(self, x):
        y = ops.conv(x, self.kernel * self.scale, strides=1, padding="same")
        return y + self.bias


class ClassEmbedding(keras.layers.Layer):
    """A learned vector per class, looked up by integer label.

    The table is ~N(0, 1) and scaled at run time like the equalized layers: a lookup is a dense
    layer on a one-hot vector, whose fan-in is 1, so ``gain`` alone is the scale.
    """

    def __init__(self, num_classes: int, dim: int, gain: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.scale = gain
        self.table = self.add_weight(
            shape=(num_classes, dim),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            name="table",
        )
        self.built = True

    def call(self, labels):
        return ops.take(self.table * self.scale, ops.cast(labels, "int32"), axis=0)


def check_labels(net: NetworkConfig, labels) -> None:
    """Labels go with a conditional network (G or D) and only with one."""
    if net.num_classes and labels is None:
        raise ValueError(f"a conditional network ({', '.join(net.classes)}) needs labels")
    if not net.num_classes and labels is not None:
        raise ValueError("an unconditional network takes no labels")


def pixel_norm(x, epsilon: float | None = None):
    """Scale each pixel's feature vector to unit mean square (keeps G's magnitudes in check).

    The paper's epsilon 1e-8 rounds to 0 in float16, so float16 uses 1e-4, as the official
    code's fp16 setting does.
    """
    if epsilon is None:
        epsilon = 1e-4 if keras.backend.standardize_dtype(x.dtype) == "float16" else 1e-8
    return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + epsilon)


def leaky_relu(x, slope: float = 0.2):
    return ops.leaky_relu(x, negative_slope=slope)


def upsample2x(x):
    """Nearest-neighbour doubling of height and width."""
    return ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)


def downsample2x(x):
    """2×2 average pooling."""
    return ops.average_pool(x, pool_size=2, strides=2, padding="valid")


def fade(old, new, alpha):
    """Blend from ``old`` (alpha 0) to ``new`` (alpha 1)."""
    return old + (new - old) * ops.cast(alpha, new.dtype)


def mbstd_group(batch: int, group_size: int) -> int:
    """The group minibatch stddev uses on ``batch`` images: the largest size up to
    ``group_size`` that divides the batch (the trainer refuses a batch where this is 1)."""
    group = min(group_size, batch)
    while batch % group:
        group -= 1
    return group


def minibatch_stddev(x, group_size: int = 4, epsilon: float = 1e-8):
    """Append one channel: the feature stddev across a group of images, averaged, per group.

    Groups are runs of consecutive images (not strided as in the official code), so a batch split
    across replicas in contiguous slices forms exactly the same groups as on one device. A batch
    that is not a multiple of ``group_size`` uses the largest divisor of it that is smaller.
    """
    batch = x.shape[0]
    if batch is None:
        raise ValueError("minibatch_stddev needs a static batch size")
    group = mbstd_group(batch, group_size)
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    grouped = ops.reshape(x, (batch // group, group, height, width, channels))
    grouped = ops.cast(grouped, "float32")
    variance = ops.mean(ops.square(grouped - ops.mean(grouped, axis=1, keepdims=True)), axis=1)
    stddev = ops.mean(ops.sqrt(variance + epsilon), axis=(1, 2, 3))
    per_image = ops.repeat(stddev, group, axis=0)
    feature = ops.broadcast_to(ops.reshape(per_image, (batch, 1, 1, 1)), (batch, height, width, 1))
    return ops.concatenate([x, ops.cast(feature, x.dtype)], axis=-1)
