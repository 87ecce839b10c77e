import math

import numpy as np
import pytest
from PIL import Image

from progan.metrics import (
    _descriptors,
    chroma_and_hue,
    evaluate,
    laplacian_pyramid,
    level_count,
    ms_ssim,
    pairwise_ms_ssim,
    sample_reals,
    swd,
)


def smooth_images(n: int, shape=(48, 80), seed: int = 0) -> np.ndarray:
    """Random low-frequency color fields: image-like statistics, cheap to make."""
    rng = np.random.default_rng(seed)
    small = (rng.random((n, shape[0] // 8, shape[1] // 8, 3)) * 255).astype(np.uint8)
    return np.stack(
        [
            np.asarray(Image.fromarray(s).resize(shape[::-1], Image.Resampling.BICUBIC))
            for s in small
        ]
    )


@pytest.fixture(scope="module")
def reals():
    return smooth_images(128)


def test_swd_of_a_set_with_itself_is_zero(reals):
    assert swd(reals, reals) == [0.0, 0.0, 0.0]


def test_swd_grows_with_a_color_shift(reals):
    distances = [
        swd(reals, np.clip(reals.astype(int) + shift, 0, 255).astype(np.uint8))[-1]
        for shift in (0, 10, 30, 60)
    ]
    assert distances == sorted(distances) and distances[1] > 0


def test_swd_grows_with_blur(reals):
    def blur(size):
        return np.stack(
            [np.asarray(Image.fromarray(r).resize(size).resize((80, 48))) for r in reals]
        )

    distances = [swd(reals, blur(size))[0] for size in [(40, 24), (20, 12), (10, 6)]]
    assert distances == sorted(distances) and distances[0] > 0


def test_levels_follow_the_image_size():
    assert level_count((48, 80)) == 2 and level_count((96, 160)) == 3
    assert level_count((12, 20)) == 1 and level_count((128, 128)) == 4
    images = smooth_images(4, (96, 160))
    assert [lv.shape[1:3] for lv in laplacian_pyramid(images)] == [(96, 160), (48, 80), (24, 40)]
    assert len(swd(images, images)) == 3 + 1  # per level, then the average


def test_an_odd_side_halves_up_and_its_level_still_subtracts():
    images = smooth_images(8, (40, 72))[:, :33, :66]  # --max-res 264x132 has a 66x33 stage
    levels = laplacian_pyramid(images)
    assert [lv.shape[1:3] for lv in levels] == [(33, 66), (17, 33)]
    for side in (33, 63, 64):  # the count the trainer logs matches the pyramid SWD builds
        square = smooth_images(1, (64, 64))[:, :side, :side]
        assert level_count((side, side)) == len(laplacian_pyramid(square))
    # a band-pass level of a smooth image is small next to the image itself
    assert np.abs(levels[0]).mean() < 0.2 * np.abs(images.astype(np.float32)).mean()
    assert swd(images, images)[-1] == 0


def test_ms_ssim_in_chunks_is_the_same_per_pair():
    a, b = smooth_images(10, seed=1), smooth_images(10, seed=2)
    np.testing.assert_allclose(ms_ssim(a, b, chunk=3), ms_ssim(a, b), rtol=1e-12)


def test_reals_floor_is_far_below_noise(reals):
    floor = swd(reals[:64], reals[64:])[-1]
    noise = np.random.default_rng(1).integers(0, 256, reals[:64].shape, dtype=np.uint8)
    assert floor * 5 < swd(reals[:64], noise)[-1]


@pytest.mark.parametrize("shape", [(24, 40), (48, 80)])
def test_ms_ssim_on_small_images(shape):
    images = smooth_images(32, shape)
    np.testing.assert_allclose(ms_ssim(images, images), 1.0, rtol=1e-9)
    diversity = pairwise_ms_ssim(images, 64)
    assert 0 < diversity < 0.9
    near_copies = np.clip(
        images.astype(int) + np.random.default_rng(0).integers(-3, 4, images.shape), 0, 255
    ).astype(np.uint8)
    assert ms_ssim(images, near_copies).mean() > 0.95


def test_collapsed_generator_scores_high_ms_ssim():
    one = smooth_images(1)
    assert pairwise_ms_ssim(np.repeat(one, 10, axis=0), 20) == pytest.approx(1.0)


def test_evaluate_reports_swd_beside_its_floor():
    images = smooth_images(24, (24, 40))
    result = evaluate(images[:8], images[8:])
    assert result["n"] == 8 and "swd_level0" in result and "swd_floor_level0" in result
    assert result["swd"] > 0 and 0 < result["ms_ssim"] <= 1
    tiny = evaluate(images[:8, :3, :5], images[8:, :3, :5])
    assert "swd" not in tiny and "ms_ssim" in tiny


def test_sampled_reals_mix_a_data_set_stored_by_class():
    # Dark images stored before bright ones: evaluate's two halves must both see both classes,
    # or the reals-vs-reals floor measures the class split instead of sampling noise.
    stored = np.concatenate(
        [np.full((500, 8, 8, 3), 20, np.uint8), np.full((500, 8, 8, 3), 230, np.uint8)]
    )
    picked = sample_reals(stored, 200)
    first, second = picked[:100].mean(), picked[100:].mean()
    assert abs(first - second) < 30 and 80 < first < 170
    assert len(np.unique(picked.reshape(200, -1)[:, 0])) == 2


def test_descriptors_of_a_large_bright_set_are_normalised_exactly():
    """Statistics over millions of patch values must not drift: a float32 sum did, and the SWD of a
    4096-image low-pass level grew threefold with it."""
    level = (130 + np.random.default_rng(0).standard_normal((2048, 24, 40, 3))).astype(np.float32)
    d = _descriptors(level, np.random.default_rng(1)).reshape(-1, 3, 49)
    np.testing.assert_allclose(d.mean(axis=(0, 2), dtype=np.float64), 0, atol=1e-3)
    np.testing.assert_allclose(d.std(axis=(0, 2), dtype=np.float64), 1, atol=1e-3)


# Reference values derived without the implementation -------------------------------------------


def mean_abs_projection(dimension: int) -> float:
    """E|d·v| for d uniform on the unit sphere of ``dimension`` and |v|² = ``dimension`` (a
    descriptor of ±1 entries): √D·Γ(D/2)/(√π·Γ((D+1)/2)), about √(2/π)."""
    from scipy.special import gammaln

    half = gammaln(dimension / 2) - gammaln((dimension + 1) / 2)
    return float(np.sqrt(dimension / np.pi) * np.exp(half))


def checkered(means: list[int], amplitudes: list[int], side: int = 32) -> np.ndarray:
    """Grey ``side``² images ``mean + amplitude·(−1)^(y+x)``, one per (mean, amplitude) pair.

    The binomial filter cancels the checker exactly ((1 − 4 + 6 − 4 + 1)/16 = 0) and keeps a
    constant, so a 32² image's Laplacian pyramid is known in closed form: the band level is the
    checker alone, the 16² residual the constant."""
    checker = np.where(np.add.outer(np.arange(side), np.arange(side)) % 2 == 0, 1, -1)
    images = [m + a * checker for m, a in zip(means, amplitudes, strict=True)]
    return np.repeat(np.stack(images)[..., None], 3, axis=-1).astype(np.uint8)


def test_swd_matches_its_closed_form_at_every_level():
    """Set A: means at 2 levels, checker amplitude one value; set B: means at 4 equally spaced
    levels, amplitudes 1× and 3×. After each set's normalisation a descriptor is t·v with v of
    ±1 entries, t = ±1 in A and ±1/√5, ±3/√5 in B, so sorted projections differ by |d·v|/√5
    on average, at both levels: SWD ×1e3 = 1e3·E|d·v|/√5 (the directions are random: 10 %)."""
    n = 64
    a = checkered([60, 180] * (n // 2), [16] * n)
    b = checkered([60, 100, 140, 180] * (n // 4), [16, 48] * (n // 2))
    levels = [level[0, 0, 0, 0] for level in laplacian_pyramid(a[:1])]
    assert len(levels) == 2 and levels[1] == 60  # the residual holds the constant exactly
    expected = 1e3 * mean_abs_projection(3 * 7 * 7) / np.sqrt(5)
    *per_level, average = swd(a, b)
    np.testing.assert_allclose(per_level, [expected, expected], rtol=0.1)
    np.testing.assert_allclose(average, expected, rtol=0.1)


def test_ms_ssim_matches_tensorflow_on_grey_pairs():
    """The paper's MS-SSIM is TensorFlow's ``ssim_multiscale`` (11-px Gaussian window, σ 1.5,
    K 0.01/0.03, 2×2 average pooling, the five standard weights) on images large enough for
    the window at every scale (176 = 11·16) and grey, where averaging over channels before or
    after the product is the same."""
    import tensorflow as tf

    rng = np.random.default_rng(5)
    grey = smooth_images(6, (176, 176))[..., :1]
    noisy = np.clip(grey + rng.normal(0, 20, grey.shape), 0, 255).astype(np.uint8)
    first = np.concatenate([grey, grey, grey[:2]])
    second = np.concatenate([noisy, grey[::-1], grey[:2]])  # noisy, unrelated, identical
    ours = ms_ssim(np.repeat(first, 3, axis=-1), np.repeat(second, 3, axis=-1))
    theirs = tf.image.ssim_multiscale(
        tf.constant(first, tf.float32), tf.constant(second, tf.float32), max_val=255.0
    ).numpy()
    assert theirs.min() < 0.3 and 0.5 < theirs[:6].min() < 0.99 and theirs[-1] == 1.0
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_chroma_and_hue_are_zero_on_grey_and_cielab_on_known_colors():
    grey = np.repeat(np.arange(0, 256, 8, dtype=np.uint8)[None, :, None, None], 3, axis=-1)
    assert chroma_and_hue(grey)[0] < 0.01
    # sRGB green and red in CIELAB (D65): a*, b* = (-86.18, 83.18) and (80.11, 67.22)
    green = np.zeros((2, 4, 4, 3), np.uint8)
    green[..., 1] = 255
    chroma, hue = chroma_and_hue(green)
    assert chroma == pytest.approx(math.hypot(86.18, 83.18), abs=0.1)
    assert hue == pytest.approx(math.degrees(math.atan2(83.18, -86.18)), abs=0.1)
    red = np.zeros((2, 4, 4, 3), np.uint8)
    red[..., 0] = 255
    assert chroma_and_hue(red)[1] == pytest.approx(40.0, abs=0.1)
    # half grey, half green: the mean chroma halves, the hue stays green's
    half = np.concatenate([np.full_like(green, 128), green])
    assert chroma_and_hue(half)[0] == pytest.approx(chroma / 2, rel=1e-3)
