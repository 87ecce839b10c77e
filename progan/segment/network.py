"""The cloth segmenter's network: a small U-Net (Ronneberger et al., 2015) in Keras 3.

Two 3×3 convolutions per level, max pooling down, nearest upsampling and the skip connection's
features concatenated on the way up, one logit per pixel at the end. The skips carry the
working resolution's detail to the output, which is what a mask's edge needs; the deepest
level sees a quarter of the photo's height at a time, enough to tell a white towel from a
bright patch of belt by what surrounds it. No normalization layers: a batch statistic would
be state that the step must carry under JAX, and at this depth Adam trains the plain network
well. Fully convolutional, so any size whose sides divide by ``2**(levels-1)`` goes through.
"""

from __future__ import annotations

import keras
from keras import layers


def double_conv(x, filters: int, name: str):
    for k in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv{k}")(x)
    return x


def unet(widths: tuple[int, ...], name: str = "segmenter") -> keras.Model:
    """Photos in [-1, 1] (N×H×W×3) to cloth logits (N×H×W×1); ``widths`` per level, finest first."""
    photo = keras.Input((None, None, 3), name="photo")
    x, skips = photo, []
    for level, filters in enumerate(widths[:-1]):
        x = double_conv(x, filters, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = double_conv(x, widths[-1], "bottom")
    for level in reversed(range(len(widths) - 1)):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = double_conv(x, widths[level], f"up{level}")
    logits = layers.Conv2D(1, 1, name="logits")(x)
    return keras.Model(photo, logits, name=name)
