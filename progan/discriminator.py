"""The growing discriminator (critic), the mirror image of the generator.

As in the generator, every block exists from construction on; a stage only decides where the
image enters (its fromRGB) and, during fade-in, how the half-resolution path is blended in.
"""

from __future__ import annotations

import keras

from config import NetworkConfig
from progan.layers import (
    Alike,
    ClassEmbedding,
    EqualizedConv2D,
    EqualizedDense,
    check_labels,
    downsample2x,
    fade,
    leaky_relu,
    minibatch_stddev,
)


class DiscriminatorBlock(keras.layers.Layer):
    """Stage ``k > 0``: two 3×3 convs with leaky ReLU, then 2×2 average pooling."""

    def __init__(self, channels: int, out_channels: int, slope: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.slope = slope
        self.conv1 = EqualizedConv2D(channels, channels, 3, name=f"{self.name}_conv1")
        self.conv2 = EqualizedConv2D(channels, out_channels, 3, name=f"{self.name}_conv2")
        self.built = True

    def call(self, x):
        x = leaky_relu(self.conv1(x), self.slope)
        x = leaky_relu(self.conv2(x), self.slope)
        return downsample2x(x)


class DiscriminatorHead(keras.layers.Layer):
    """Stage 0: minibatch stddev, 3×3 conv, dense, and the linear score.

    A conditional critic adds the projection term of Miyato & Koyama (2018): with φ(x) the
    dense layer's features and ψ the score layer, D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩. The
    embedding is scaled by 1/sqrt(features), the score layer's own equalized scale, so both
    terms start at the same size.
    """

    def __init__(self, net: NetworkConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.slope = net.leaky_slope
        self.group = net.mbstd_group
        channels = net.channels[0]
        positions = net.base[0] * net.base[1]
        self.conv = EqualizedConv2D(channels + 1, channels, 3, name=f"{self.name}_conv")
        self.dense = EqualizedDense(positions * channels, channels, name=f"{self.name}_dense")
        self.score = EqualizedDense(channels, 1, gain=1.0, name=f"{self.name}_score")
        self.projection = (
            ClassEmbedding(
                net.num_classes,
                channels,
                gain=1.0 / channels**0.5,
                name=f"{self.name}_projection",
            )
            if net.num_classes
            else None
        )
        self.built = True

    def call(self, x, labels=None):
        x = minibatch_stddev(x, self.group)
        x = leaky_relu(self.conv(x), self.slope)
        x = keras.ops.reshape(x, (x.shape[0], -1))
        features = leaky_relu(self.dense(x), self.slope)
        score = self.score(features)
        if self.projection is None:
            return score
        embedded = keras.ops.cast(self.projection(labels), features.dtype)
        return score + keras.ops.sum(embedded * features, axis=-1, keepdims=True)


class Discriminator(keras.Model):
    """``D(images, stage, alpha, fading, labels)`` -> one unbounded score per image (N×1).

    ``color_blind``: every fromRGB weighs the color inputs alike at the start (see Generator)."""

    def __init__(
        self, net: NetworkConfig, num_stages: int, color_blind: bool = False, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if not 1 <= num_stages <= net.max_stages:
            raise ValueError(f"num_stages must be in [1, {net.max_stages}]")
        self.net = net
        self.num_stages = num_stages
        ch = net.channels
        self.from_rgb = [
            EqualizedConv2D(
                net.image_channels,
                ch[k],
                1,
                initializer=Alike(net.image_channels, axis=2) if color_blind else None,
                name=f"from_rgb{k}",
            )
            for k in range(num_stages)
        ]
        self.blocks = [
            DiscriminatorBlock(ch[k], ch[k - 1], net.leaky_slope, name=f"block{k}")
            for k in range(1, num_stages)
        ]
        self.head = DiscriminatorHead(net, name="head")
        self.built = True

    def _from_rgb(self, images, stage: int):
        return leaky_relu(self.from_rgb[stage](images), self.net.leaky_slope)

    def call(self, images, stage: int, alpha=1.0, fading: bool = False, labels=None):
        check_labels(self.net, labels)
        x = self._from_rgb(images, stage)
        if stage > 0:
            x = self.blocks[stage - 1](x)
            if fading:
                x = fade(self._from_rgb(downsample2x(images), stage - 1), x, alpha)
            for block in reversed(self.blocks[: stage - 1]):
                x = block(x)
        return self.head(x, labels)

    def stage_variables(self, stage: int, fading: bool) -> list:
        layers = [self.head, *self.blocks[:stage], self.from_rgb[stage]]
        if fading:
            layers.append(self.from_rgb[stage - 1])
        return [v for layer in layers for v in layer.trainable_variables]
