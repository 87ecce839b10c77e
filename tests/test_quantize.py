"""k-means color quantization per image (progan.quantize) and its cache."""

from __future__ import annotations

import numpy as np
import pytest

from progan.quantize import kmeans_images


def patches(colors: list[tuple[int, int, int]], n: int = 3) -> np.ndarray:
    """``n`` 8×12 images made of vertical bands of ``colors``, with a little noise."""
    rng = np.random.default_rng(0)
    images = np.zeros((n, 8, 12, 3), np.float64)
    for i, color in enumerate(colors):
        images[:, :, i * 12 // len(colors) : (i + 1) * 12 // len(colors)] = color
    return np.clip(images + rng.normal(0, 3, images.shape), 0, 255).astype(np.uint8)


def test_k_colors_per_image_each_the_mean_of_its_pixels():
    images = patches([(200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 240, 240)], n=8)
    for k in (2, 4):
        quantized = kmeans_images(images, k, seed=1)
        for original, image in zip(images, quantized, strict=True):
            colors = np.unique(image.reshape(-1, 3), axis=0)
            assert 1 <= len(colors) <= k
            for color in colors:  # a converged k-means: each color is its pixels' mean
                members = np.all(image == color, axis=-1)
                np.testing.assert_allclose(original[members].mean(0), color, atol=0.51)
    # with one start per band the four bands are found exactly
    assert any(len(np.unique(q.reshape(-1, 3), axis=0)) == 4 for q in kmeans_images(images, 4))


def test_quantization_is_seeded_and_chunks_agree_with_the_whole():
    images = (
        patches([(200, 30, 30), (30, 200, 30), (30, 30, 200)], n=6) // 2
        + np.arange(6, dtype=np.uint8)[:, None, None, None]
    )
    whole = kmeans_images(images, 2, seed=3)
    np.testing.assert_array_equal(whole, kmeans_images(images, 2, seed=3))
    parts = [kmeans_images(images[:4], 2, 3), kmeans_images(images[4:], 2, 3, first_index=4)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    with pytest.raises(ValueError, match="uint8"):
        kmeans_images(images.astype(np.float32), 2)
