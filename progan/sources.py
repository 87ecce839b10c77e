"""Where training images come from: a folder on disk or an in-memory array, behind one interface.

A source yields RGB uint8 arrays of any size; the per-stage cache in :mod:`progan.data` pads and
resizes them. Sources are cheap to open and say who they are through a fingerprint, so the cache
is rebuilt exactly when the images change. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from progan.errors import ProganError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


class ImageSource(Protocol):
    name: str

    def __len__(self) -> int: ...

    def fingerprint(self) -> str: ...

    def images(self) -> Iterator[np.ndarray]: ...


def to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> H×W×3 uint8; transparent pixels become black, like the padding."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


class FolderSource:
    """Every image file below ``root`` (recursively), in sorted path order."""

    def __init__(self, root: str | Path, name: str | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ProganError(
                f"data folder {self.root} does not exist; pass --data DIR with images"
            )
        self.files = sorted(
            p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not self.files:
            raise ProganError(
                f"data folder {self.root} has no images ({', '.join(IMAGE_SUFFIXES)})"
            )
        self.name = name or self.root.name
        self.skipped: list[Path] = []

    def __len__(self) -> int:
        return len(self.files)

    def fingerprint(self) -> str:
        digest = hashlib.sha1()
        for path in self.files:
            stat = path.stat()
            digest.update(
                f"{path.relative_to(self.root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
            )
        return digest.hexdigest()[:16]

    def images(self) -> Iterator[np.ndarray]:
        """Yield decodable images; unreadable or truncated files are logged and counted."""
        self.skipped = []
        for path in self.files:
            try:
                with Image.open(path) as image:
                    image.load()
                    array = to_rgb(image)
            except (OSError, UnidentifiedImageError, ValueError) as err:
                log.warning("skipping unreadable image %s: %s", path, err)
                self.skipped.append(path)
                continue
            yield array


class ArraySource:
    """Images already in memory (CIFAR-10, STL-10): an N×H×W×3 uint8 array."""

    def __init__(self, name: str, array: np.ndarray) -> None:
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise ProganError(
                f"source {name}: expected N×H×W×3 uint8 images, got {array.shape} {array.dtype}"
            )
        self.name = name
        self.array = array
        self.skipped: list[Path] = []

    def __len__(self) -> int:
        return len(self.array)

    def fingerprint(self) -> str:
        return hashlib.sha1(np.ascontiguousarray(self.array).tobytes()).hexdigest()[:16]

    def images(self) -> Iterator[np.ndarray]:
        yield from self.array
