"""Color quantization by k-means in RGB, per image: the data of a color curriculum.

Huang & Brady grow the number of colors instead of pixels: an image is quantized to K colors
by k-means (their Algorithm 1: K centres drawn at random from the image's own pixels, then
assign each pixel to its nearest centre and move each centre to the mean of its pixels, until no
assignment changes or an iteration cap), for K = 2, 3, 4, 5, 10, 20, then full color.

Written in NumPy rather than with scikit-learn's KMeans: the algorithm is a dozen lines, and
many small images are quantized at once by running it on a chunk of them side by side (one
distance tensor per iteration), which a per-image library call cannot do. Every image's random
start is a function of (seed, its index, K), so the result is the same on every run.
"""

from __future__ import annotations

import numpy as np

# Huang & Brady stop at a cap too; on 80x48 photos most images settle within it.
MAX_ITERATIONS = 20
# Images quantized side by side: distances are chunk × pixels × K floats.
CHUNK_PIXELS = 4_000_000


def kmeans_images(images: np.ndarray, k: int, seed: int = 0, first_index: int = 0) -> np.ndarray:
    """``N×H×W×3`` uint8 -> the same images with every pixel replaced by its cluster's mean.

    ``first_index`` is the position of ``images[0]`` in its data set, so that a chunk of a
    larger set draws the same random start as the whole set would.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected N×H×W×3 uint8 images, got {images.shape} {images.dtype}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    n, h, w, _ = images.shape
    pixels_per_image = h * w
    chunk = max(1, CHUNK_PIXELS // (pixels_per_image * k))
    out = np.empty_like(images)
    for start in range(0, n, chunk):
        block = images[start : start + chunk].reshape(-1, pixels_per_image, 3)
        indices = range(first_index + start, first_index + start + len(block))
        out[start : start + chunk] = _quantize_block(block, k, seed, indices).reshape(-1, h, w, 3)
    return out


def _quantize_block(pixels: np.ndarray, k: int, seed: int, indices: range) -> np.ndarray:
    """k-means on ``B×P×3`` pixels, one clustering per image, all images in lockstep."""
    points = pixels.astype(np.float32)
    batch, count = points.shape[:2]
    starts = np.stack(
        [
            np.random.default_rng([seed, index, k]).choice(count, k, replace=k > count)
            for index in indices
        ]
    )
    centres = np.take_along_axis(points, starts[:, :, None], axis=1)  # B×K×3
    assignment = np.full((batch, count), -1, np.int64)
    squared = (points**2).sum(-1)[:, :, None]  # B×P×1
    offsets = (np.arange(batch) * k)[:, None]
    for _ in range(MAX_ITERATIONS):
        # ‖p − c‖² = ‖p‖² − 2 p·c + ‖c‖², the middle term one batched matrix product
        cross = np.einsum("bpc,bkc->bpk", points, centres)
        distances = squared - 2 * cross + (centres**2).sum(-1)[:, None, :]
        nearest = distances.argmin(axis=2)
        if np.array_equal(nearest, assignment):
            break
        assignment = nearest
        flat = (assignment + offsets).ravel()
        sizes = np.bincount(flat, minlength=batch * k).reshape(batch, k)
        sums = np.stack(
            [np.bincount(flat, points[..., c].ravel(), batch * k) for c in range(3)], axis=-1
        ).reshape(batch, k, 3)
        # A centre that lost every pixel stays where it was.
        centres = np.where(
            sizes[:, :, None] > 0, sums / np.maximum(sizes, 1)[:, :, None], centres
        ).astype(np.float32)
    final = np.take_along_axis(centres, assignment[:, :, None], axis=1)
    return np.clip(np.round(final), 0, 255).astype(np.uint8)
