"""CycleGAN's networks as in the paper's appendix, in Keras 3 (any backend).

The generator is the ResNet of Johnson et al.: a 7×7 convolution, two stride-2 downsamplings,
residual blocks, two stride-2 upsamplings and a 7×7 convolution to RGB, with reflection padding
(no border artefacts from zero padding) and instance normalisation (each image normalised on
its own: the batch is one image). The critic is a PatchGAN: a score per overlapping patch (70×70
pixels with three stride-2 layers) instead of one per image, which judges texture and local
color, where a recolor shows. Weights start ~N(0, 0.02) as in the reference code. Both are fully
convolutional, so any size whose sides divide by 4 goes through.
"""

from __future__ import annotations

import keras
from keras import layers, ops


def init() -> keras.initializers.Initializer:
    """~N(0, 0.02), a fresh initializer per layer so that the run's seed decides the weights."""
    return keras.initializers.RandomNormal(0.0, 0.02)


class ReflectionPad(layers.Layer):
    def __init__(self, pad: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pad = pad

    def call(self, x):
        p = self.pad
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, shape):  # JAX cannot trace the padding on unknown sides
        grow = lambda side: None if side is None else side + 2 * self.pad  # noqa: E731
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])


def instance_norm(name: str) -> layers.Layer:
    """Per image and channel, without learned scale or shift (the reference code's default)."""
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False, name=name)


def conv(filters: int, kernel: int, name: str, strides: int = 1, padding: str = "valid"):
    return layers.Conv2D(
        filters, kernel, strides=strides, padding=padding, kernel_initializer=init(), name=name
    )


def resnet_generator(filters: int, blocks: int, name: str) -> keras.Model:
    """c7s1-f, d2f, d4f, ``blocks`` × R4f, u2f, uf, c7s1-3 (the paper's notation)."""
    image = keras.Input((None, None, 3))
    x = ReflectionPad(3)(image)
    x = layers.ReLU()(instance_norm(f"{name}_in0")(conv(filters, 7, f"{name}_c0")(x)))
    for i, mult in enumerate((2, 4), start=1):
        x = conv(filters * mult, 3, f"{name}_down{i}", strides=2, padding="same")(x)
        x = layers.ReLU()(instance_norm(f"{name}_down{i}_in")(x))
    for b in range(blocks):
        y = ReflectionPad(1)(x)
        y = conv(filters * 4, 3, f"{name}_res{b}_a")(y)
        y = layers.ReLU()(instance_norm(f"{name}_res{b}_a_in")(y))
        y = conv(filters * 4, 3, f"{name}_res{b}_b")(ReflectionPad(1)(y))
        x = layers.Add()([x, instance_norm(f"{name}_res{b}_b_in")(y)])
    for i, mult in enumerate((2, 1), start=1):
        x = layers.Conv2DTranspose(
            filters * mult, 3, strides=2, padding="same", kernel_initializer=init(),
            name=f"{name}_up{i}",
        )(x)  # fmt: skip
        x = layers.ReLU()(instance_norm(f"{name}_up{i}_in")(x))
    x = conv(3, 7, f"{name}_rgb")(ReflectionPad(3)(x))
    return keras.Model(image, ops.tanh(x), name=name)


def patch_critic(filters: int, stride_layers: int, name: str) -> keras.Model:
    """C(f) without norm, then C(2f) … with instance norm (stride 2), one stride-1 C, a 1-map
    convolution: an N×h×w map of scores, one per patch."""
    image = keras.Input((None, None, 3))
    x = layers.LeakyReLU(0.2)(conv(filters, 4, f"{name}_c0", strides=2, padding="same")(image))
    for i in range(1, stride_layers + 1):
        strides = 2 if i < stride_layers else 1
        width = filters * min(2**i, 8)
        x = conv(width, 4, f"{name}_c{i}", strides=strides, padding="same")(x)
        x = layers.LeakyReLU(0.2)(instance_norm(f"{name}_c{i}_in")(x))
    return keras.Model(image, conv(1, 4, f"{name}_score", padding="same")(x), name=name)
