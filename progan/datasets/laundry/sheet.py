"""Pictures of a laundry data set for people: a contact sheet of photos over their masks, and
one photo in every recolored variant. The README shows both, so they are made by code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from config import COLOR_HUES
from progan.errors import ProganError
from progan.recolor import recolor_all

# Instance k is drawn in PALETTE[k - 1]; the belt stays black.
PALETTE = np.array(
    [(230, 80, 60), (70, 170, 230), (250, 200, 50), (120, 220, 120), (200, 120, 230)],
    dtype=np.uint8,
)
GAP = 4
BACKGROUND = (24, 24, 24)


def paint_instances(instances: np.ndarray) -> np.ndarray:
    """Instance ids -> RGB, one color per item, so overlapping items are told apart."""
    colors = np.concatenate([np.zeros((1, 3), np.uint8), PALETTE])
    return colors[np.minimum(instances, len(PALETTE))]


def _thumb(array: np.ndarray, width: int) -> Image.Image:
    image = Image.fromarray(array)
    height = round(image.height * width / image.width)
    return image.resize((width, height), Image.Resampling.BOX)


def _grid(rows: list[list[Image.Image]]) -> Image.Image:
    width = max(sum(t.width for t in row) + GAP * (len(row) + 1) for row in rows)
    height = sum(max(t.height for t in row) for row in rows) + GAP * (len(rows) + 1)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    y = GAP
    for row in rows:
        x = GAP
        for tile in row:
            canvas.paste(tile, (x, y))
            x += tile.width + GAP
        y += max(t.height for t in row) + GAP
    return canvas


def _pairs(data: Path, count: int, masks: str) -> list[tuple[Path, Path]]:
    """The first ``count`` photos with their mask from the subfolder ``masks``."""
    photos = sorted((data / "images").glob("*.jpg"))[:count]
    if not photos:
        raise ProganError(f"{data} is not a laundry data set (no images/*.jpg)")
    pairs = [(p, data / masks / f"{p.stem}.png") for p in photos]
    missing = [mask.name for _, mask in pairs if not mask.is_file()]
    if missing:
        raise ProganError(f"{data}/{masks} lacks {', '.join(missing[:3])}; regenerate the set")
    return pairs


def contact_sheet(
    data: str | Path, count: int = 16, columns: int = 4, width: int = 300
) -> Image.Image:
    """The first ``count`` photos of a data set, each row of photos above a row of its masks."""
    pairs = _pairs(Path(data), count, "instances")
    rows: list[list[Image.Image]] = []
    for start in range(0, len(pairs), columns):
        chunk = pairs[start : start + columns]
        rows.append([_thumb(np.asarray(Image.open(p).convert("RGB")), width) for p, _ in chunk])
        rows.append([_thumb(paint_instances(np.asarray(Image.open(m))), width) for _, m in chunk])
    return _grid(rows)


def color_strip(data: str | Path, index: int = 0, width: int = 320) -> Image.Image:
    """Photo ``index`` as it is and in each recolor target, in one row, original first."""
    pairs = _pairs(Path(data), index + 1, "masks")
    if index >= len(pairs):
        raise ProganError(f"{data} has only {len(pairs)} images; pick a smaller --index")
    photo_path, mask_path = pairs[index]
    photo = np.asarray(Image.open(photo_path).convert("RGB"))
    mask = np.asarray(Image.open(mask_path).convert("L"))
    variants = recolor_all(photo, mask, tuple(COLOR_HUES))
    return _grid([[_thumb(photo, width)] + [_thumb(variants[c], width) for c in COLOR_HUES]])
