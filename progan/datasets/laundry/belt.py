"""The background of every laundry photo: a worn grey conveyor belt between two metal side rails,
under uneven industrial lighting.

The belt runs left to right, so its texture is streaked along x; seams cross it. Lighting is a
separate gain field applied to the whole composed scene, so cloth and belt share the same lamps
and the same dim corners, as in a camera image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from progan.datasets.laundry.noise import enlarge, grain, smooth_noise

Shape = tuple[int, int]


@dataclass(frozen=True)
class Belt:
    """Random choices for one belt; the textures come from ``seed``."""

    top: int
    bottom: int
    grey: float
    tint: tuple[float, float, float]
    rail_grey: float
    seams: tuple[float, ...]
    zigzag: tuple[bool, ...]
    seed: int


@dataclass(frozen=True)
class Lighting:
    """Lamps as bright blobs, a slow uneven gain, vignetting and the camera's white balance."""

    lamps: tuple[tuple[float, float, float, float], ...]
    unevenness: float
    vignette: float
    exposure: float
    balance: tuple[float, float, float]
    seed: int


def sample_belt(rng: np.random.Generator, shape: Shape) -> Belt:
    """Rail widths, belt grey and tint, and 0 to 2 seams (straight cut or zigzag splice)."""
    height, width = shape
    unit = height / 720
    top = round(rng.uniform(55, 95) * unit)
    bottom = height - round(rng.uniform(55, 95) * unit)
    n_seams = int(rng.choice([0, 1, 1, 2]))
    seams = tuple(float(x) for x in np.sort(rng.uniform(0.05, 0.95, n_seams) * width))
    warm = rng.uniform(-0.02, 0.02)
    return Belt(
        top=top,
        bottom=bottom,
        grey=float(rng.uniform(0.36, 0.52)),
        tint=(1.0 + warm, 1.0, 1.0 - warm),
        rail_grey=float(rng.uniform(0.5, 0.7)),
        seams=seams,
        zigzag=tuple(bool(z) for z in rng.random(n_seams) < 0.5),
        seed=int(rng.integers(2**32)),
    )


def sample_lighting(rng: np.random.Generator, shape: Shape) -> Lighting:
    """One to three lamps, some outside the frame, so that the light falls off unevenly."""
    height, width = shape
    n_lamps = int(rng.integers(1, 4))
    lamps = tuple(
        (
            float(rng.uniform(0, width)),
            float(rng.uniform(-0.2, 1.2) * height),
            float(rng.uniform(0.35, 0.8) * height),
            float(rng.uniform(0.08, 0.3)),
        )
        for _ in range(n_lamps)
    )
    shift = rng.uniform(-0.035, 0.035, 3)
    return Lighting(
        lamps=lamps,
        unevenness=float(rng.uniform(0.04, 0.12)),
        vignette=float(rng.uniform(0.1, 0.35)),
        exposure=float(rng.uniform(0.92, 1.08)),
        balance=tuple(float(1.0 + s) for s in shift),
        seed=int(rng.integers(2**32)),
    )


def render_belt(belt: Belt, shape: Shape) -> np.ndarray:
    """H×W×3 float32 reflectance of rails and belt, before lighting."""
    height, width = shape
    unit = height / 720
    rng = np.random.default_rng(belt.seed)
    rows = np.arange(height, dtype=np.float32)[:, None]

    streaks = smooth_noise(rng, shape, (height / (6 * unit), width / (260 * unit)))
    bands = smooth_noise(rng, (height, 1), (10, 1))
    blotches = smooth_noise(rng, shape, (5, 9))
    weave = ndimage.uniform_filter1d(grain(rng, shape), size=max(1, round(7 * unit)), axis=1)
    fine = grain(rng, shape)
    gray = belt.grey * (
        1.0 + 0.015 * streaks + 0.05 * bands + 0.07 * blotches + 0.05 * weave + 0.05 * fine
    )
    _add_specks(gray, rng, unit)
    _add_seams(gray, belt, unit)
    edge = np.minimum(rows - belt.top, belt.bottom - 1 - rows)
    gray *= 1.0 - 0.28 * np.exp(-np.maximum(edge, 0) / (22 * unit))

    gray[: belt.top] = _rail(belt, rng, belt.top, width, unit)[::-1]
    gray[belt.bottom :] = _rail(belt, rng, height - belt.bottom, width, unit)
    return gray[..., None] * np.asarray(belt.tint, dtype=np.float32)


def _add_specks(gray: np.ndarray, rng: np.random.Generator, unit: float) -> None:
    """Small dark dirt marks, stamped as soft dots (a full-image blur would cost more)."""
    height, width = gray.shape
    count = int(rng.integers(40, 160))
    ys = rng.integers(0, height, count)
    xs = rng.integers(0, width, count)
    depth = rng.uniform(0.25, 0.5, count).astype(np.float32)
    radius = max(1, round(3 * unit))
    offsets = np.arange(-radius, radius + 1)
    oy, ox = np.meshgrid(offsets, offsets, indexing="ij")
    dot = np.exp(-(oy**2 + ox**2) / (0.5 * radius * radius)).astype(np.float32)
    yy = np.clip(ys[:, None, None] + oy, 0, height - 1)
    xx = np.clip(xs[:, None, None] + ox, 0, width - 1)
    dark = np.zeros_like(gray)
    np.add.at(dark, (yy, xx), depth[:, None, None] * dot)
    gray *= 1.0 - np.minimum(dark, 0.6)


def _add_seams(gray: np.ndarray, belt: Belt, unit: float) -> None:
    """Belt joints crossing the belt: a dark cut line with a lighter glued band beside it."""
    height, width = gray.shape
    rows = np.arange(height, dtype=np.float32)[:, None]
    for x, zigzag in zip(belt.seams, belt.zigzag, strict=True):
        slant = 0.04 * (rows - height / 2)
        if zigzag:
            period = 34 * unit
            slant = slant + 9 * unit * (2 * np.abs((rows / period) % 1.0 - 0.5) - 0.5)
        margin = 0.04 * height / 2 + 40 * unit
        left, right = max(0, int(x - margin)), min(width, int(x + margin) + 1)
        if right <= left:
            continue
        dist = np.arange(left, right, dtype=np.float32)[None, :] - (x + slant)
        factor = 1.0 - 0.45 * np.exp(-((dist / (1.6 * unit)) ** 2))
        factor *= np.where((dist > 2 * unit) & (dist < 16 * unit), 1.07, 1.0).astype(np.float32)
        gray[:, left:right] *= factor


def _rail(belt: Belt, rng: np.random.Generator, size: int, width: int, unit: float) -> np.ndarray:
    """Brushed-metal side wall, row 0 at the belt: a folded profile, a bright lip, bolts."""
    if size <= 0:
        return np.zeros((0, width), dtype=np.float32)
    depth = np.arange(size, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    t = depth / size
    profile = 0.78 + 0.22 * np.cos(np.pi * t) - 0.35 * np.exp(-(((t - 0.35) / 0.06) ** 2))
    lip = np.exp(-(((depth - 5 * unit) / (2.5 * unit)) ** 2))
    gap = np.exp(-((depth / (1.5 * unit)) ** 2))
    brushed = smooth_noise(rng, (size, width), (size / (3 * unit), 4)) * 0.04
    metal = belt.rail_grey * (profile + 0.25 * lip - 0.6 * gap + brushed)

    pitch = 150 * unit
    bolt_x = (cols - rng.uniform(0, pitch)) % pitch - pitch / 2
    bolt_y = depth - 0.65 * size
    radius = 6 * unit
    bolt = np.exp(-(bolt_x**2 + bolt_y**2) / (radius * radius) * 2)
    glint = np.exp(-((bolt_x + 2 * unit) ** 2 + (bolt_y + 2 * unit) ** 2) / (2 * unit) ** 2)
    return metal * (1.0 - 0.35 * bolt) + 0.25 * glint


def light_gain(lighting: Lighting, shape: Shape) -> np.ndarray:
    """H×W gain of lamps, slow unevenness, vignette and exposure (white balance apart).

    Every term is smooth, so the field is computed on a grid 8 times coarser and enlarged.
    """
    height, width = shape
    step = 8
    low = (-(-height // step), -(-width // step))
    rng = np.random.default_rng(lighting.seed)
    rows = (np.arange(low[0], dtype=np.float32) * step)[:, None]
    cols = (np.arange(low[1], dtype=np.float32) * step)[None, :]
    gain = 1.0 + lighting.unevenness * smooth_noise(rng, low, (2, 3))
    for x, y, radius, strength in lighting.lamps:
        gain = gain + strength * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * radius**2))
    r2 = ((cols - width / 2) / (width / 2)) ** 2 + ((rows - height / 2) / (height / 2)) ** 2
    gain = gain * (1.0 - lighting.vignette * 0.5 * r2)
    gain = gain * (lighting.exposure / float(np.mean(gain)))
    return enlarge(gain, shape)
