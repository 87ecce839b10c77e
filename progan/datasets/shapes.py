"""Grey shapes: a small square grey data set made on the spot, for what users train most often
besides photos (scans, inspection crops, garment and digit sets: grey items on a dark ground).

Every image is one item (an ellipse, a rotated box, a triangle or a shirt outline) of its own
grey level, shaded and lightly textured, on black, drawn at four times the size and shrunk so
its edges are smooth. Image ``i`` of a seed is a function of the seed and ``i`` alone, so a set
is the same on every machine; it is written as grey PNGs under ``images/``, with a ``done`` file
last, so a set cut short is rebuilt.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from progan import files
from progan.progress import progress_bar

SUPERSAMPLE = 4
DONE = "done"


def shirt(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """A T-shirt outline centred on (cx, cy), ``r`` its half-width at the sleeves."""
    points = [(-0.35, -0.9), (-1.0, -0.55), (-0.8, -0.2), (-0.5, -0.35), (-0.5, 0.9)]
    points += [(0.5, 0.9), (0.5, -0.35), (0.8, -0.2), (1.0, -0.55), (0.35, -0.9)]
    return [(cx + r * x, cy + r * y) for x, y in points]


def draw_item(index: int, size: int, seed: int) -> np.ndarray:
    """Image ``index`` of the set of ``seed``: size×size uint8 (grey)."""
    rng = np.random.default_rng([seed, index])
    big = size * SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    kind = int(rng.integers(4))
    cx, cy = rng.uniform(0.35, 0.65, 2) * big
    r = rng.uniform(0.18, 0.34) * big
    if kind == 0:
        aspect = rng.uniform(0.5, 1.0)
        draw.ellipse([cx - r, cy - r * aspect, cx + r, cy + r * aspect], fill=255)
    elif kind == 1:
        angle = rng.uniform(0, math.pi)
        w, h = r, r * rng.uniform(0.4, 0.9)
        corners = [(-w, -h), (w, -h), (w, h), (-w, h)]
        draw.polygon(
            [
                (
                    cx + x * math.cos(angle) - y * math.sin(angle),
                    cy + x * math.sin(angle) + y * math.cos(angle),
                )
                for x, y in corners
            ],
            fill=255,
        )
    elif kind == 2:
        angles = rng.uniform(0, 2 * math.pi) + np.array([0, 2.1, 4.2]) + rng.uniform(-0.3, 0.3, 3)
        draw.polygon([(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles], fill=255)
    else:
        draw.polygon(shirt(cx, cy, r), fill=255)
    inside = np.asarray(mask, np.float32) / 255.0
    # one grey level per item, shaded across it, with a fine weave
    level = rng.uniform(90, 240)
    ys, xs = np.mgrid[0:big, 0:big] / big
    direction = rng.uniform(0, 2 * math.pi)
    shade = 1 + 0.25 * ((xs - 0.5) * math.cos(direction) + (ys - 0.5) * math.sin(direction))
    weave = 1 + 0.06 * rng.standard_normal((big, big))
    item = np.clip(level * shade * weave, 0, 255) * inside
    image = Image.fromarray(item.astype(np.uint8), "L").filter(ImageFilter.GaussianBlur(1.5))
    return np.asarray(image.resize((size, size), Image.Resampling.BOX))


def generate(folder: Path, n: int = 4000, size: int = 32, seed: int = 0) -> Path:
    """The set of ``n`` images of ``size``×``size`` in ``folder/images`` (made once)."""
    folder = Path(folder)
    images = folder / "images"
    if (folder / DONE).is_file():
        return images
    images.mkdir(parents=True, exist_ok=True)
    for index in progress_bar(range(n), desc=f"grey shapes {size}x{size}", unit="img"):
        files.save_image(images / f"{index:05d}.png", Image.fromarray(draw_item(index, size, seed)))
    files.write_text(folder / DONE, f"{n} images of {size}x{size}, seed {seed}\n")
    return images
