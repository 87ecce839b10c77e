"""How good a generator is: multi-scale sliced Wasserstein distance and MS-SSIM diversity, and
how colored its images are (a color cast as a number).

Both follow the ProGAN paper's definitions so that numbers are comparable in kind, and both are
vectorised over images and patches (NumPy), so an evaluation of a few thousand small images
takes seconds. SWD compares local 7×7 patch statistics at every level of a Laplacian pyramid;
MS-SSIM between random pairs of *generated* images measures diversity (a collapsed generator
scores near 1).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

PATCH = 7
PATCHES_PER_IMAGE = 128
DIRECTIONS = 128
REPEATS = 4
MIN_LEVEL_SIDE = 16
BINOMIAL = np.array([1, 4, 6, 4, 1], np.float32) / 16.0  # separable 5×5 binomial kernel


def _filter(images: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Same-size separable filtering of N×H×W×C images (reflected borders), as shifted sums."""
    pad = len(taps) // 2
    for axis in (1, 2):
        width = [(0, 0)] * 4
        width[axis] = (pad, pad)
        padded = np.pad(images, width, mode="reflect")
        size = images.shape[axis]
        images = sum(
            t * np.take(padded, np.arange(k, k + size), axis=axis) for k, t in enumerate(taps)
        )
    return images


def pyramid_down(images: np.ndarray) -> np.ndarray:
    return _filter(images, BINOMIAL)[:, ::2, ::2]


def pyramid_up(images: np.ndarray) -> np.ndarray:
    n, h, w, c = images.shape
    up = np.zeros((n, h * 2, w * 2, c), images.dtype)
    up[:, ::2, ::2] = images
    return _filter(up, BINOMIAL * 2.0)  # 2 per axis: 4 in all, for the zeros inserted


def laplacian_pyramid(images: np.ndarray) -> list[np.ndarray]:
    """Band-pass levels from full size down to the last level whose shorter side is ≥ 16 px,
    which keeps its low-pass residual (as the paper's code does)."""
    levels = [np.asarray(images, np.float32)]
    while min(levels[-1].shape[1:3]) // 2 >= MIN_LEVEL_SIDE:
        levels.append(pyramid_down(levels[-1]))
    for k in range(len(levels) - 1):
        # an odd side halves up (ceil), so the upsampled level may be one row or column over
        height, width = levels[k].shape[1:3]
        levels[k] = levels[k] - pyramid_up(levels[k + 1])[:, :height, :width]
    return levels


def level_count(shape: tuple[int, int]) -> int:
    """How many SWD levels an image of ``(height, width)`` has."""
    count, side = 1, min(shape)
    while side // 2 >= MIN_LEVEL_SIDE:
        count, side = count + 1, (side + 1) // 2  # as pyramid_down halves: an odd side up
    return count


def _descriptors(level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """128 random 7×7 neighbourhoods per image, normalised per color channel over the set."""
    n, h, w, c = level.shape
    ys = rng.integers(0, h - PATCH + 1, (n, PATCHES_PER_IMAGE))
    xs = rng.integers(0, w - PATCH + 1, (n, PATCHES_PER_IMAGE))
    windows = np.lib.stride_tricks.sliding_window_view(level, (PATCH, PATCH), axis=(1, 2))
    patches = windows[np.arange(n)[:, None], ys, xs]  # n×128×C×7×7
    patches = patches.reshape(-1, c, PATCH * PATCH)
    # Statistics summed in float64: float32 sums over millions of low-pass values drift (a
    # 4096-image 40x24 level had its mean off by 0.4 and its std by 9 %, inflating the SWD). The
    # patches themselves stay float32, so a large set is not copied at double width.
    mean = patches.mean(axis=(0, 2), keepdims=True, dtype=np.float64).astype(np.float32)
    std = patches.std(axis=(0, 2), keepdims=True, dtype=np.float64).astype(np.float32) + 1e-8
    return ((patches - mean) / std).reshape(len(patches), -1)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
    """Mean |sorted projection difference| over 4 × 128 random unit directions."""
    results = []
    for _ in range(REPEATS):
        directions = rng.standard_normal((a.shape[1], DIRECTIONS)).astype(np.float32)
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)
        pa = np.sort(directions.T @ a.T, axis=1)  # direction-major: each sort is contiguous
        pb = np.sort(directions.T @ b.T, axis=1)
        results.append(np.abs(pa - pb).mean())
    return float(np.mean(results))


def swd(images_a: np.ndarray, images_b: np.ndarray, seed: int = 0) -> list[float]:
    """SWD ×1e3 per pyramid level (full size first) between two equal-size sets of uint8 images.

    The last entry of the returned list is the average over levels.
    """
    if images_a.shape != images_b.shape:
        raise ValueError(f"SWD needs two sets of one shape: {images_a.shape} vs {images_b.shape}")
    levels_a = laplacian_pyramid(images_a.astype(np.float32))
    levels_b = laplacian_pyramid(images_b.astype(np.float32))
    per_level = []
    for k, (la, lb) in enumerate(zip(levels_a, levels_b, strict=True)):
        # The same patch positions in both sets, so that a set against itself gives exactly 0.
        da = _descriptors(la, np.random.default_rng([seed, k]))
        db = _descriptors(lb, np.random.default_rng([seed, k]))
        per_level.append(1e3 * sliced_wasserstein(da, db, np.random.default_rng([seed, k, 1])))
    return [*per_level, float(np.mean(per_level))]


# MS-SSIM as in the paper's code: 5 scales with 2×2 average downsampling and the standard
# weights; at scales smaller than the 11-px Gaussian window the window shrinks to the image
# (its sigma scaled alike), which is what lets it work on 24×40 images.
MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    offsets = np.arange(size) - (size - 1) / 2
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    window = np.outer(g, g)
    return window / window.sum()


def _ssim_terms(x: np.ndarray, y: np.ndarray, max_val: float = 255.0):
    """Mean SSIM and mean contrast-structure per image pair (N×H×W×C float64)."""
    size = min(11, x.shape[1], x.shape[2])
    sigma = size * 1.5 / 11
    window = _gaussian_window(size, sigma)[None, :, :, None]

    def blur(z):
        return signal.fftconvolve(z, window, mode="valid", axes=(1, 2))

    mu_x, mu_y = blur(x), blur(y)
    sigma_xx = blur(x * x) - mu_x**2
    sigma_yy = blur(y * y) - mu_y**2
    sigma_xy = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    cs = (2 * sigma_xy + c2) / (sigma_xx + sigma_yy + c2)
    ssim = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs
    return ssim.mean(axis=(1, 2, 3)), cs.mean(axis=(1, 2, 3))


def ms_ssim(images_a: np.ndarray, images_b: np.ndarray, chunk: int = 256) -> np.ndarray:
    """MS-SSIM of each pair ``(images_a[i], images_b[i])`` of uint8 images; 1 for identical.

    Pairs are independent, so they are measured ``chunk`` at a time: 4096 pairs at 320x192 in
    float64 would take 12 GB at once."""
    if len(images_a) > chunk:
        return np.concatenate(
            [
                ms_ssim(images_a[i : i + chunk], images_b[i : i + chunk], chunk)
                for i in range(0, len(images_a), chunk)
            ]
        )
    x = np.asarray(images_a, np.float64)
    y = np.asarray(images_b, np.float64)
    values = []
    for scale in range(len(MS_SSIM_WEIGHTS)):
        ssim, cs = _ssim_terms(x, y)
        values.append(ssim if scale == len(MS_SSIM_WEIGHTS) - 1 else cs)
        h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
        if min(h, w) < 2:  # a 1-pixel image cannot shrink further; reuse it for the rest
            continue
        x = x[:, :h, :w].reshape(len(x), h // 2, 2, w // 2, 2, -1).mean(axis=(2, 4))
        y = y[:, :h, :w].reshape(len(y), h // 2, 2, w // 2, 2, -1).mean(axis=(2, 4))
    stacked = np.clip(np.stack(values, axis=1), 0, None)
    return np.prod(stacked**MS_SSIM_WEIGHTS, axis=1)


def pairwise_ms_ssim(images: np.ndarray, pairs: int, seed: int = 0) -> float:
    """Mean MS-SSIM over random pairs of distinct images of one set (diversity: lower is more)."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(images), pairs)
    second = (first + rng.integers(1, len(images), pairs)) % len(images)
    return float(ms_ssim(images[first], images[second]).mean())


def evaluate(fakes: np.ndarray, reals: np.ndarray, seed: int = 0) -> dict[str, float | int]:
    """SWD of fakes against reals beside the reals-vs-reals floor, and MS-SSIM of both.

    SWD is left out for images under 7 px on a side, which have no 7×7 neighbourhood.

    ``reals`` must hold at least twice as many images as the comparison uses: one half is
    compared with the fakes, the two halves with each other (the floor a perfect generator
    would reach with this many images).
    """
    n = min(len(fakes), len(reals) // 2)
    if n < 2:
        raise ValueError("evaluation needs at least 2 fakes and 4 reals")
    result: dict[str, float | int] = {"n": n}
    if min(fakes.shape[1:3]) >= PATCH:  # smaller images have no 7×7 neighbourhoods
        fake_swd = swd(fakes[:n], reals[:n], seed)
        floor = swd(reals[:n], reals[n : 2 * n], seed)
        for k, (value, low) in enumerate(zip(fake_swd[:-1], floor[:-1], strict=True)):
            result[f"swd_level{k}"] = value
            result[f"swd_floor_level{k}"] = low
        result["swd"] = fake_swd[-1]
        result["swd_floor"] = floor[-1]
    result["ms_ssim"] = pairwise_ms_ssim(fakes[:n], n, seed)
    result["ms_ssim_real"] = pairwise_ms_ssim(reals[:n], n, seed)
    return result


def chroma_and_hue(images: np.ndarray) -> tuple[float, float]:
    """The mean CIELAB chroma of N×H×W×3 uint8 ``images`` and the hue angle (degrees, 0-360)
    of their mean color: grey images have chroma 0, a set tinted green has a chroma well above
    its data's and a hue near 135°. Compared at phase ends with the data's, they show a cast."""
    from skimage.color import rgb2lab

    lab = rgb2lab(np.asarray(images, np.uint8).reshape(-1, 1, 3))[:, 0]
    a, b = lab[:, 1], lab[:, 2]
    return float(np.hypot(a, b).mean()), float(np.degrees(np.arctan2(b.mean(), a.mean())) % 360)


def sample_reals(images: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` distinct images drawn at random, in random order.

    They are read in index order (kind to memory maps) but returned shuffled: data sets are often
    stored by class, and ``evaluate`` splits its reals into halves, which must not differ by class.
    """
    rng = np.random.default_rng([seed, 3])
    count = min(count, len(images))
    picked = np.asarray(images[np.sort(rng.choice(len(images), count, replace=False))])
    return picked[rng.permutation(count)]


def level_name(res: str, k: int) -> str:
    """The resolution of pyramid level ``k`` of ``res`` images (level 0: ``res`` itself)."""
    width, height = (int(v) for v in res.split("x"))
    return f"{width >> k}x{height >> k}"


def format_table(result: dict[str, float | int], res: str) -> str:
    """The evaluation as a Markdown table: SWD per level beside the floor, then MS-SSIM."""
    lines = ["| metric | generated | reals vs reals |", "|---|---:|---:|"]
    k = 0
    while f"swd_level{k}" in result:
        lines.append(
            f"| SWD ×1e3 at {level_name(res, k)} | {result[f'swd_level{k}']:.2f} | "
            f"{result[f'swd_floor_level{k}']:.2f} |"
        )
        k += 1
    if "swd" in result:
        lines.append(f"| SWD ×1e3, average | {result['swd']:.2f} | {result['swd_floor']:.2f} |")
    lines.append(
        f"| MS-SSIM of random pairs | {result['ms_ssim']:.4f} | {result['ms_ssim_real']:.4f} |"
    )
    return "\n".join(lines)
