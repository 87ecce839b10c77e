"""DiffAugment (Zhao et al. 2020): the same random translation and cutout on every image the
critic sees, reals and fakes alike, written with differentiable ops so G learns through them.

With few images the critic memorises the reals and stops teaching G; augmenting both sides keeps
it from doing so without teaching G the augmentation, because the fakes are augmented too. No
color augmentation: it would fight color control. The random numbers are inputs (four uniforms
in [0, 1) per image: translation y, x, cutout y, x) so that a resumed or distributed run sees
exactly the same augmentations.
"""

from __future__ import annotations

from keras import ops

# DiffAugment's defaults: shifts of up to 1/8 of a side, a hole of half of each side.
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _shift(x, shifts, axis: int):
    """Move every image by its own whole number of pixels along ``axis`` (1: rows, 2: columns),
    filling with zeros."""
    size = x.shape[axis]
    positions = ops.arange(size, dtype="int32")[None, :] - shifts[:, None]  # N×size sources
    inside = ops.cast((positions >= 0) & (positions < size), x.dtype)
    index = ops.clip(positions, 0, size - 1)
    shape = [-1, 1, 1, 1]
    shape[axis] = size
    moved = ops.take_along_axis(x, ops.reshape(index, shape), axis=axis)
    return moved * ops.reshape(inside, shape)


def translate(x, u, ratio: float = TRANSLATION_RATIO):
    """Shift each N×H×W×C image by up to ``ratio`` of its height and width; ``u`` is N×2."""
    height, width = x.shape[1], x.shape[2]
    reach = [max(1, round(side * ratio)) for side in (height, width)]
    dy = ops.cast(ops.floor(u[:, 0] * (2 * reach[0] + 1)), "int32") - reach[0]
    dx = ops.cast(ops.floor(u[:, 1] * (2 * reach[1] + 1)), "int32") - reach[1]
    return _shift(_shift(x, dy, 1), dx, 2)


def cutout(x, u, ratio: float = CUTOUT_RATIO):
    """Zero a rectangle of ``ratio`` of each side, centred anywhere in the image; ``u`` is N×2."""
    height, width = x.shape[1], x.shape[2]
    hole = [max(1, round(side * ratio)) for side in (height, width)]
    top = ops.cast(ops.floor(u[:, 0] * height), "int32") - hole[0] // 2
    left = ops.cast(ops.floor(u[:, 1] * width), "int32") - hole[1] // 2
    rows = ops.arange(height, dtype="int32")[None, :]
    cols = ops.arange(width, dtype="int32")[None, :]
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + hole[0])
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + hole[1])
    hit = in_rows[:, :, None] & in_cols[:, None, :]
    return x * ops.cast(~hit, x.dtype)[:, :, :, None]


def augment(x, u, policy: tuple[str, ...]):
    """``policy`` in order on images ``x`` with random numbers ``u`` (N×4)."""
    for name in policy:
        x = translate(x, u[:, 0:2]) if name == "translation" else cutout(x, u[:, 2:4])
    return x
