"""Seeds, interpolation and animation: what turns a number into a latent and two latents into a GIF.

The command line and the studio both call these functions, so a seed shows the same image
everywhere. Nothing here imports TensorFlow; a generator ``g`` is anything with the
:func:`progan.load_generator` contract (``g.latent_dim``, ``g.resolutions``, ``g.render``).

The seed recipe
---------------
Seed ``s`` (an integer in ``[0, 2**32)``) becomes the latent::

    numpy.random.RandomState(s).standard_normal(latent_dim).astype(numpy.float32)

that is, Mersenne Twister MT19937 seeded with ``s`` through its 32-bit ``init_genrand``, then the
polar Box-Muller method in float64, rounded to float32. This is the ``RandomState(seed).randn``
of the official ProGAN code. NumPy freezes the legacy ``RandomState`` stream (NEP 19), whereas
the streams of ``numpy.random.Generator`` may change between versions, so only the legacy one
can promise the same vector in every process and every future NumPy. MT19937 is pure integer
arithmetic; the polar method adds ``sqrt`` (exact in IEEE 754) and ``log``, whose last bit may
in principle differ between C libraries, a difference the rounding to float32 all but always
absorbs. A latent of size ``d`` is the first ``d`` numbers of the seed's stream, so a smaller
model sees a prefix of a larger model's latent.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from config import LATENT_LIMITS, LatentLimits
from progan import files
from progan.errors import ProganError
from progan.resolution import format_res, parse_res

SEED_LIMIT = 2**32
# Stored with anything made of seeds (prototypes), so a later change of recipe is detectable.
SEED_RECIPE = "numpy.random.RandomState(seed).standard_normal(latent_dim).astype(float32)"
METHODS = ("slerp", "lerp")
# How frames become a GIF; part of the studio's ETags, so a new recipe means new URLs' bytes.
GIF_RECIPE = "pillow: one fast-octree palette of 256 colors for all frames, no dither"

# A seed has at most 10 digits (2**32 - 1 has 10); longer digit runs are no seed, and Python
# refuses to read runs of thousands of digits as an int at all.
_SEED_PART = re.compile(r"^(\d{1,10})(?:-(\d{1,10}))?$")


# Seeds -------------------------------------------------------------------------------------------


def check_seed(seed: Any) -> int:
    """An integer in ``[0, 2**32)`` or a :class:`ProganError`; ``True`` and ``1.0`` are refused."""
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= seed < SEED_LIMIT
    ):
        raise ProganError(f"seed {seed!r} must be a whole number from 0 to {SEED_LIMIT - 1}")
    return int(seed)


def parse_seeds(text: str | Sequence[str], limits: LatentLimits = LATENT_LIMITS) -> list[int]:
    """``'0-15'``, ``'1,2,7'``, ``'3 9-11'`` or a list of such parts -> seeds in the order given.

    Ranges include both ends. At most ``limits.max_seeds`` seeds, so that a typo such as
    ``0-4000000000`` is an error instead of an afternoon of rendering.
    """
    parts = [text] if isinstance(text, str) else list(text)
    tokens = [tok for part in parts for tok in re.split(r"[\s,]+", str(part).strip()) if tok]
    if not tokens:
        raise ProganError("no seeds given; write e.g. 42, 0-15 or 1,2,7")
    seeds: list[int] = []
    for token in tokens:
        match = _SEED_PART.match(token)
        if not match:
            raise ProganError(f"seed {token!r} is not a number or a range like 0-15")
        first = check_seed(int(match.group(1)))
        last = check_seed(int(match.group(2))) if match.group(2) else first
        if last < first:
            raise ProganError(f"seed range {token} runs backwards; write {last}-{first}")
        if len(seeds) + last - first + 1 > limits.max_seeds:
            raise ProganError(f"{token} makes more than {limits.max_seeds} seeds at once")
        seeds.extend(range(first, last + 1))
    return seeds


def seed_latents(seeds: int | Iterable[int], latent_dim: int) -> np.ndarray:
    """Float32 latents ``N×latent_dim``, one row per seed, by the recipe in the module docstring."""
    seed_list = [seeds] if isinstance(seeds, (int, np.integer)) else list(seeds)
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise ProganError(f"latent_dim must be a positive integer, got {latent_dim!r}")
    rows = [
        np.random.RandomState(check_seed(seed)).standard_normal(latent_dim) for seed in seed_list
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), latent_dim).astype(np.float32)


# Interpolation -----------------------------------------------------------------------------------


def frame_times(frames: int) -> np.ndarray:
    """``t = k/(n-1)`` for ``k = 0..n-1``: both ends included, evenly spaced."""
    frames = _check_int("frames", frames, 2, None)
    return np.arange(frames, dtype=np.float64) / (frames - 1)


def lerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """``v_t = z0 + t·(z1 − z0)`` for each ``t``: ``len(t)×d`` float32."""
    z0, z1, ts = _interpolation_args(z0, z1, t)
    return (z0 + ts[:, None] * (z1 - z0)).astype(np.float32)


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation: equal angle steps on the arc from ``z0`` to ``z1``.

    The direction turns by ``t·ω`` in the plane of the two latents (``ω`` the angle between
    them) while the length goes linearly from ``|z0|`` to ``|z1|``. Linear interpolation cuts
    the chord instead: its midpoints are shorter than any Gaussian latent of this size is
    likely to be (about ``√d``), so mid frames look washed out and frames near the ends change
    slower than those in the middle. Parallel or opposite latents have no single arc; they fall
    back to :func:`lerp`.
    """
    z0, z1, ts = _interpolation_args(z0, z1, t)
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 == 0 or n1 == 0:
        return lerp(z0, z1, ts)
    u0, u1 = z0 / n0, z1 / n1
    omega = math.acos(float(np.clip(np.dot(u0, u1), -1.0, 1.0)))
    sin_omega = math.sin(omega)
    if sin_omega < 1e-6:
        return lerp(z0, z1, ts)
    direction = (
        np.sin((1 - ts) * omega)[:, None] * u0 + np.sin(ts * omega)[:, None] * u1
    ) / sin_omega
    length = (1 - ts) * n0 + ts * n1
    return (direction * length[:, None]).astype(np.float32)


def interpolate(
    z0: np.ndarray, z1: np.ndarray, t: np.ndarray | float, method: str = "slerp"
) -> np.ndarray:
    """:func:`slerp` or :func:`lerp` by name: ``len(t)×d`` float32."""
    if method not in METHODS:
        raise ProganError(f"interpolation {method!r} is not one of {', '.join(METHODS)}")
    return slerp(z0, z1, t) if method == "slerp" else lerp(z0, z1, t)


def interpolation_latents(
    z0: np.ndarray, z1: np.ndarray, frames: int, method: str = "slerp"
) -> np.ndarray:
    """``frames×d`` float32 latents from ``z0`` to ``z1`` at ``t = k/(frames-1)``."""
    return interpolate(z0, z1, frame_times(frames), method)


def _interpolation_args(
    z0: np.ndarray, z1: np.ndarray, t: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.asarray(z0, dtype=np.float64).reshape(-1)
    b = np.asarray(z1, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ProganError(f"cannot interpolate latents of sizes {a.size} and {b.size}")
    ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if ts.ndim != 1 or not np.all((ts >= 0) & (ts <= 1)):
        raise ProganError("interpolation positions t must lie in [0, 1]")
    return a, b, ts


# Rendering ---------------------------------------------------------------------------------------


def check_res(g: Any, res: str | None) -> str:
    """The generator's spelling of ``res`` (``None`` = its largest), or an error listing them."""
    if res is None:
        return g.resolutions[-1]
    name = format_res(parse_res(res))
    if name not in g.resolutions:
        raise ProganError(
            f"resolution {res} is not in this model; available: {', '.join(g.resolutions)}"
        )
    return name


def default_label(g: Any) -> str | None:
    """The class a conditional model draws when no color is asked for: ``original`` (the data as
    it was) when it has that class, else its first; None for an unconditional model."""
    classes = getattr(g, "classes", [])
    if not classes:
        return None
    return "original" if "original" in classes else classes[0]


def render_at_t(
    g: Any, seed_a: int, seed_b: int, t: float, res: str | None = None, method: str = "slerp"
) -> np.ndarray:
    """One ``H×W×3`` uint8 frame at position ``t`` between two seeds (a slider in the studio)."""
    z = seed_latents([seed_a, seed_b], g.latent_dim)
    latents = interpolate(z[0], z[1], t, method)
    return g.render(latents, check_res(g, res), labels=default_label(g))[0]


def render_interpolation(
    g: Any, seed_a: int, seed_b: int, frames: int, res: str | None = None, method: str = "slerp"
) -> np.ndarray:
    """``frames×H×W×3`` uint8: the walk from ``seed_a``'s image to ``seed_b``'s.

    All frames go to ``g.render`` in one call; it batches internally.
    """
    check_frames(frames)
    z = seed_latents([seed_a, seed_b], g.latent_dim)
    latents = interpolation_latents(z[0], z[1], frames, method)
    return g.render(latents, check_res(g, res), labels=default_label(g))


def render_gif_bytes(
    g: Any,
    seed_a: int,
    seed_b: int,
    res: str | None = None,
    frames: int = 30,
    delay_ms: int = 80,
    back_and_forth: bool = False,
    method: str = "slerp",
) -> bytes:
    """An animated GIF from ``seed_a`` to ``seed_b`` (and back when ``back_and_forth``)."""
    check_delay(delay_ms)
    return encode_gif(
        render_interpolation(g, seed_a, seed_b, frames, res, method), delay_ms, back_and_forth
    )


# Limits and encoding -----------------------------------------------------------------------------


def check_frames(frames: int, limits: LatentLimits = LATENT_LIMITS) -> int:
    return _check_int("frames", frames, limits.min_frames, limits.max_frames)


def check_delay(delay_ms: int, limits: LatentLimits = LATENT_LIMITS) -> int:
    return _check_int("delay (ms)", delay_ms, limits.min_delay_ms, limits.max_delay_ms)


def _check_int(what: str, value: Any, lo: int, hi: int | None) -> int:
    """``value`` as an int in ``[lo, hi]`` (``hi=None``: no upper bound), else a ProganError."""
    integral = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not integral or value < lo or (hi is not None and value > hi):
        bounds = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
        raise ProganError(f"{what} must be an integer {bounds}, got {value!r}")
    return int(value)


def encode_gif(frames: np.ndarray, delay_ms: int, back_and_forth: bool = False) -> bytes:
    """``N×H×W×C`` uint8 frames (C = 3, or 1 for a grey model) -> GIF bytes that loop forever.

    One 256-color palette serves the whole animation (Pillow's fast octree over all frames
    stacked), so a color does not flicker from frame to frame, and a 120-frame walk at 80x48
    encodes in about 30 ms where a palette per frame took about 1 s (``bench/serve.py``). GIF
    stores delays in hundredths of a second, so ``delay_ms`` is rounded to the nearest 10
    (halves up). ``back_and_forth`` appends the frames in reverse without repeating either
    end, so the loop has no stutter. Consecutive identical frames (two equal seeds) are merged
    by the encoder, their delays added.
    """
    frames = check_images(frames)
    if back_and_forth:
        frames = np.concatenate([frames, frames[-2:0:-1]])
    delay = (check_delay(delay_ms) + 5) // 10 * 10
    if frames.shape[-1] == 1:  # grey: Pillow's L frames are already palette images
        images = [files.to_pil(frame) for frame in frames]
    else:
        stacked = Image.fromarray(frames.reshape(-1, frames.shape[2], 3), "RGB")
        palette = stacked.quantize(256, method=Image.Quantize.FASTOCTREE)
        images = [
            Image.fromarray(frame, "RGB").quantize(palette=palette, dither=Image.Dither.NONE)
            for frame in frames
        ]
    buffer = io.BytesIO()
    images[0].save(
        buffer, format="GIF", save_all=True, append_images=images[1:], duration=delay, loop=0
    )
    return buffer.getvalue()


def encode_png(image: np.ndarray) -> bytes:
    """One ``H×W×C`` uint8 image -> PNG bytes (grey for C = 1)."""
    image = check_images(np.asarray(image)[None])[0]
    buffer = io.BytesIO()
    files.to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def image_grid(images: np.ndarray, columns: int | None = None, gap: int = 2) -> np.ndarray:
    """Tile ``N×H×W×C`` images row by row, ``gap`` black pixels apart, in ⌈√N⌉ columns unless
    ``columns`` is given: one picture for a range of seeds."""
    images = check_images(images)
    count, height, width = images.shape[:3]
    columns = columns or math.ceil(math.sqrt(count))
    if columns < 1:
        raise ProganError(f"a grid needs at least one column, got {columns}")
    rows = math.ceil(count / columns)
    grid = np.zeros(
        (rows * height + (rows - 1) * gap, columns * width + (columns - 1) * gap, images.shape[3]),
        np.uint8,
    )
    for index, image in enumerate(images):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top : top + height, left : left + width] = image
    return grid


def check_images(images: np.ndarray, min_count: int = 1) -> np.ndarray:
    """``images`` as an ``N×H×W×C`` uint8 array (C = 3, or 1 for grey) with ``N >= min_count``,
    else a ProganError."""
    images = np.asarray(images)
    if (
        images.ndim != 4
        or images.shape[-1] not in (1, 3)
        or images.dtype != np.uint8
        or len(images) < min_count
    ):
        raise ProganError(f"expected N×H×W×3 or ×1 uint8 images, got {images.shape} {images.dtype}")
    return images


def as_rgb(images: np.ndarray) -> np.ndarray:
    """Images with their channel repeated to three when grey, for what only sees color."""
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images
