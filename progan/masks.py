"""Photos and their cloth masks on disk: a folder of photos, a folder of masks of the same names.

This is the format the laundry set is written in (``images/`` and ``masks/``), the one
``python -m progan.recolor --masks`` reads and the one the segmenter trains on, so a user's own
hand-drawn masks work in both. A mask is 8-bit grey, 0 belt to 255 cloth, at its photo's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from progan.errors import ProganError
from progan.sources import IMAGE_SUFFIXES, to_rgb


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def pair_masks(images: Path, masks: Path) -> list[tuple[Path, Path]]:
    """Every image of the folder ``images`` with the mask of the same name in ``masks``."""
    for folder, flag in ((images, "--images"), (masks, "--masks")):
        if not folder.is_dir():
            raise ProganError(f"{flag} {folder} is not a folder")
    photos = image_files(images)
    if not photos:
        raise ProganError(f"--images {images} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    mask_files = {path.stem: path for path in image_files(masks)}
    missing = [path.name for path in photos if path.stem not in mask_files]
    if missing:
        shown = ", ".join(missing[:3]) + (" …" if len(missing) > 3 else "")
        raise ProganError(
            f"{len(missing)} images have no mask of the same name in {masks}: {shown}"
        )
    pairs = [(path, mask_files[path.stem]) for path in photos]
    for image_path, mask_path in pairs:
        with Image.open(image_path) as image, Image.open(mask_path) as mask:
            if image.size != mask.size:
                raise ProganError(
                    f"mask {mask_path.name} is {mask.size[0]}x{mask.size[1]} but image "
                    f"{image_path.name} is {image.size[0]}x{image.size[1]}; they must match"
                )
    return pairs


def read_photo(path: Path) -> np.ndarray:
    """H×W×3 uint8."""
    with Image.open(path) as image:
        return to_rgb(image)


def read_mask(path: Path) -> np.ndarray:
    """H×W uint8, 0 belt to 255 cloth."""
    with Image.open(path) as mask:
        return np.asarray(mask.convert("L"))
