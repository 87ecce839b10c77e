"""Smooth random fields, the raw material of belt wear, lighting, crumpling and folds.

Each field is a small grid of random numbers enlarged by PIL's bicubic filter: in C, at full
resolution, a few milliseconds per field, which keeps a 1280×720 scene well under a second.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

Shape = tuple[int, int]


def smooth_noise(rng: np.random.Generator, shape: Shape, cells: tuple[float, float]) -> np.ndarray:
    """Zero-mean, unit-std float32 field of ``shape`` with about ``cells`` bumps per axis.

    The grid has a cell of margin on every side that is cropped away, so the field does not
    flatten out towards the image border the way a plainly enlarged grid does.
    """
    height, width = shape
    rows, cols = max(1, round(cells[0])), max(1, round(cells[1]))
    grid = rng.standard_normal((rows + 3, cols + 3)).astype(np.float32)
    field = Image.fromarray(grid).resize(
        (width, height), Image.Resampling.BICUBIC, box=(1.0, 1.0, cols + 2.0, rows + 2.0)
    )
    out = np.asarray(field, dtype=np.float32)
    out = out - out.mean()
    return out / (out.std() + 1e-6)


def enlarge(field: np.ndarray, shape: Shape) -> np.ndarray:
    """Bicubic enlargement of a smooth low-resolution field to ``shape``."""
    image = Image.fromarray(np.ascontiguousarray(field, dtype=np.float32))
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BICUBIC))


def grain(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Per-pixel uniform noise in [-1, 1): the fine weave of fabric and rubber."""
    return rng.random(shape, dtype=np.float32) * 2.0 - 1.0


def blur(field: np.ndarray, radius: float) -> np.ndarray:
    """Soft blur of a 2-D float field: two box passes, a tent close enough to a Gaussian.

    Box filters cost the same at any radius, where ``gaussian_filter`` grows with it; wide
    blurs (soft shadows) run on a four times smaller copy, since their result is smooth.
    """
    field = np.ascontiguousarray(field, dtype=np.float32)
    if radius >= 8:
        height, width = field.shape
        small = Image.fromarray(field).resize(
            (-(-width // 4), -(-height // 4)), Image.Resampling.BOX
        )
        return enlarge(blur(np.asarray(small), radius / 4), (height, width))
    size = max(1, round(radius))
    once = ndimage.uniform_filter(field, size, mode="nearest")
    return ndimage.uniform_filter(once, size, mode="nearest")
