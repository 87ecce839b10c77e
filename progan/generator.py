"""The growing generator: one block per stage, a toRGB per stage, and the fade-in between them.

Every block up to ``num_stages`` is created up front, so a checkpoint or an EMA copy always has
the same variables, and growing is only a matter of which blocks ``call`` runs.
"""

from __future__ import annotations

import functools
import math
import zlib

import keras
import numpy as np

from config import NetworkConfig
from progan.layers import (
    HE_GAIN,
    Alike,
    ClassEmbedding,
    EqualizedConv2D,
    EqualizedDense,
    check_labels,
    fade,
    leaky_relu,
    pixel_norm,
    upsample2x,
)
from progan.resolution import stage_shapes

NOISE_TAPS = 8


@functools.cache
def noise_taps(name: str, latent_dim: int, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Which latent entries, with which signs, make up each pixel of the noise map ``name``.

    Fixed by the name, so the live and the EMA generator, and every later load, agree.
    """
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    taps = rng.integers(0, latent_dim, (pixels * NOISE_TAPS,), dtype=np.int32)
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), (pixels, NOISE_TAPS))
    return taps, signs / math.sqrt(NOISE_TAPS)


class NoiseInput(keras.layers.Layer):
    """Per-pixel noise added to a conv's output, scaled per feature map (StyleGAN's noise
    inputs), for the fine random detail (speckles, weave) a conv stack grown from a 5×3 grid
    draws poorly from the latent alone: without it G paints one fixed texture into every image.

    The noise is a function of the (normalised) latent, each pixel a signed sum of a few of its
    entries, not a fresh random draw: every image keeps its own noise but a seed renders the
    same image every time, an interpolation moves its noise smoothly, and the training step,
    exact resume and every backend need nothing beyond ``z``. The strengths start at zero, so
    noise inputs added to a trained network leave its images as they were.
    """

    def __init__(self, channels: int, shape: tuple[int, int], latent_dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shape = shape
        self.taps, self.signs = noise_taps(self.name, latent_dim, shape[0] * shape[1])
        self.strength = self.add_weight(shape=(channels,), initializer="zeros", name="strength")
        self.built = True

    def call(self, x, z):
        picked = keras.ops.take(keras.ops.cast(z, "float32"), self.taps, axis=1)
        picked = keras.ops.reshape(picked, (-1, *self.signs.shape))
        noise = keras.ops.sum(picked * self.signs, axis=-1)
        noise = keras.ops.reshape(noise, (-1, *self.shape, 1))
        return x + keras.ops.cast(noise, x.dtype) * keras.ops.cast(self.strength, x.dtype)


class GeneratorBlock(keras.layers.Layer):
    """Stage ``k > 0``: upsample, then two 3×3 convs, each with leaky ReLU and pixel norm (and,
    with ``noise_shape``, noise inputs after each conv)."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        slope: float,
        noise_shape: tuple[int, int] | None = None,
        latent_dim: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.slope = slope
        self.conv1 = EqualizedConv2D(in_channels, channels, 3, name=f"{self.name}_conv1")
        self.conv2 = EqualizedConv2D(channels, channels, 3, name=f"{self.name}_conv2")
        self.noise = (
            [
                NoiseInput(channels, noise_shape, latent_dim, name=f"{self.name}_noise{i}")
                for i in (1, 2)
            ]
            if noise_shape
            else []
        )
        self.built = True

    def call(self, x, z=None):
        x = upsample2x(x)
        for i, conv in enumerate((self.conv1, self.conv2)):
            x = conv(x)
            if self.noise:
                x = self.noise[i](x, z)
            x = pixel_norm(leaky_relu(x, self.slope))
        return x


class GeneratorStem(keras.layers.Layer):
    """Stage 0: normalised latent -> dense to the base grid -> 3×3 conv.

    The dense layer's gain is sqrt(2)/sqrt(H·W) — the official code's sqrt(2)/4 for a 4×4 base,
    generalised — because it acts like a transposed conv spreading one latent over H·W positions.
    A conditional model with ``label_entry="latent"`` joins a learned class embedding (as long
    as the latent) to the latent before the pixel norm, where the official code concatenates its
    one-hot labels; every later layer but the toRGBs is the unconditional one.
    """

    def __init__(self, net: NetworkConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base = net.base
        self.slope = net.leaky_slope
        channels = net.channels[0]
        positions = net.base[0] * net.base[1]
        self.embedding = (
            ClassEmbedding(net.num_classes, net.latent_dim, name=f"{self.name}_embedding")
            if net.num_classes and net.label_entry == "latent"
            else None
        )
        inputs = net.latent_dim * (2 if self.embedding else 1)
        self.dense = EqualizedDense(
            inputs,
            positions * channels,
            gain=HE_GAIN / math.sqrt(positions),
            name=f"{self.name}_dense",
        )
        self.conv = EqualizedConv2D(channels, channels, 3, name=f"{self.name}_conv")
        self.channels = channels
        self.built = True

    def call(self, z, labels=None):
        if self.embedding is not None:
            z = keras.ops.concatenate([z, keras.ops.cast(self.embedding(labels), z.dtype)], -1)
        x = self.dense(pixel_norm(z))
        x = keras.ops.reshape(x, (-1, self.base[0], self.base[1], self.channels))
        x = pixel_norm(leaky_relu(x, self.slope))
        return pixel_norm(leaky_relu(self.conv(x), self.slope))


class ClassToRGB(keras.layers.Layer):
    """A toRGB per class (``label_entry="rgb"``): one 1×1 conv with an image's channels per
    class, of which each image keeps its class's.

    Color is where the classes differ in our data (the same items, recolored), so the class
    acts only on how features become color, and a seed keeps its item in every color.
    """

    def __init__(
        self, in_channels: int, num_classes: int, image_channels: int, start, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.image_channels = num_classes, image_channels
        self.conv = EqualizedConv2D(
            in_channels,
            image_channels * num_classes,
            1,
            gain=1.0,
            initializer=start,
            name=self.name,
        )
        self.built = True

    def call(self, x, labels):
        y = self.conv(x)
        height, width = y.shape[1], y.shape[2]
        y = keras.ops.reshape(y, (-1, height, width, self.num_classes, self.image_channels))
        pick = keras.ops.one_hot(keras.ops.cast(labels, "int32"), self.num_classes, dtype=y.dtype)
        return keras.ops.sum(y * pick[:, None, None, :, None], axis=3)


class Generator(keras.Model):
    """``G(z, stage, alpha, fading, labels)`` -> image of stage ``stage`` in [-1, 1] (linear).

    ``color_blind``: every toRGB starts with its color outputs alike (:class:`Alike`), for data
    without color, where nothing would correct a random color preference.

    ``labels`` (N integer class indices) is required by a conditional network and refused by an
    unconditional one.
    """

    def __init__(
        self, net: NetworkConfig, num_stages: int, color_blind: bool = False, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if not 1 <= num_stages <= net.max_stages:
            raise ValueError(f"num_stages must be in [1, {net.max_stages}]")
        self.net = net
        self.num_stages = num_stages
        ch = net.channels
        self.stem = GeneratorStem(net, name="stem")
        shapes = stage_shapes(net.base, num_stages)
        self.blocks = [
            GeneratorBlock(
                ch[k - 1],
                ch[k],
                net.leaky_slope,
                noise_shape=shapes[k] if net.noise_inputs else None,
                latent_dim=net.latent_dim,
                name=f"block{k}",
            )
            for k in range(1, num_stages)
        ]
        self.rgb_labels = bool(net.num_classes) and net.label_entry == "rgb"
        # color_blind (a 3-channel run of all-grey data): every toRGB's colors start alike
        start = Alike(net.image_channels) if color_blind else None
        self.to_rgb = [
            ClassToRGB(ch[k], net.num_classes, net.image_channels, start, name=f"to_rgb{k}")
            if self.rgb_labels
            else EqualizedConv2D(
                ch[k],
                net.image_channels,
                1,
                gain=1.0,
                initializer=start,
                name=f"to_rgb{k}",
            )
            for k in range(num_stages)
        ]
        self.built = True

    def call(self, z, stage: int, alpha=1.0, fading: bool = False, labels=None):
        check_labels(self.net, labels)
        x = self.stem(z, labels)
        noise_source = pixel_norm(z)
        for block in self.blocks[: max(stage - 1, 0)]:
            x = block(x, noise_source)
        if stage == 0:
            return self._rgb(0, x, labels)
        new = self._rgb(stage, self.blocks[stage - 1](x, noise_source), labels)
        if not fading:
            return new
        old = upsample2x(self._rgb(stage - 1, x, labels))
        return fade(old, new, alpha)

    def _rgb(self, stage: int, x, labels):
        return self.to_rgb[stage](x, labels) if self.rgb_labels else self.to_rgb[stage](x)

    def stage_variables(self, stage: int, fading: bool) -> list:
        """The variables a step at ``stage`` touches (the optimizer is built for exactly these)."""
        layers = [self.stem, *self.blocks[:stage], self.to_rgb[stage]]
        if fading:
            layers.append(self.to_rgb[stage - 1])
        return [v for layer in layers for v in layer.trainable_variables]
