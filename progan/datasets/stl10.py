"""STL-10, one class at a time, read from the official binary files and padded to 128×128.

The binary release (``stl10_binary/`` from https://cs.stanford.edu/~acoates/stl10/) stores
each image as 3×96×96 bytes, one channel after another, each channel column-major; labels
are one byte each, 1 to 10. Training and test splits are both used (a GAN needs no held-out
split): for ``car`` that is 1,300 images. The unlabeled split has no classes and is skipped.

The 96×96 images are padded with 16 black pixels on every side rather than resized to 128:
ProGAN's stages double from 4×4, so 128 is the nearest stage above 96, and padding keeps every
original pixel as it was, where a 4/3 enlargement would interpolate all of them and soften
the little detail STL-10 has. Black is also what the trainer pads other sources with, and a
generated 128×128 image crops back to the original frame exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from progan.errors import ProganError
from progan.sources import ArraySource

CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
SIDE = 96
PADDED = 128
SPLITS = ("train", "test")
URL = "https://cs.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"


def class_label(name: str) -> int:
    """The 1-based label of class ``name``, as in the files."""
    key = name.strip().lower()
    if key not in CLASSES:
        raise ProganError(
            f"STL-10 has no class {name!r}; choose one of {', '.join(CLASSES)}, "
            "e.g. --data stl10:car"
        )
    return CLASSES.index(key) + 1


def read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (memory-mapped, N×3×96×96 as stored) and labels of one split."""
    x_path, y_path = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
    labels = np.fromfile(y_path, dtype=np.uint8)
    images = np.memmap(x_path, dtype=np.uint8, mode="r")
    if images.size != labels.size * 3 * SIDE * SIDE:
        raise ProganError(
            f"{x_path} holds {images.size} bytes, but {y_path} lists {labels.size} images of "
            f"3×{SIDE}×{SIDE} bytes; the files are truncated or do not belong together"
        )
    return images.reshape(-1, 3, SIDE, SIDE), labels


def to_hwc(stored: np.ndarray) -> np.ndarray:
    """N×3×96×96 column-major channels -> N×96×96×3 row-major RGB."""
    return np.ascontiguousarray(stored.transpose(0, 3, 2, 1))


def pad(images: np.ndarray, side: int = PADDED) -> np.ndarray:
    n, height, width, channels = images.shape
    top, left = (side - height) // 2, (side - width) // 2
    out = np.zeros((n, side, side, channels), dtype=np.uint8)
    out[:, top : top + height, left : left + width] = images
    return out


def stl10_source(name: str, data_root: Path) -> ArraySource:
    """The images of STL-10 class ``name`` from ``data_root/stl10_binary``, padded to 128×128."""
    label = class_label(name)
    folder = Path(data_root) / "stl10_binary"
    present = [
        split
        for split in SPLITS
        if (folder / f"{split}_X.bin").is_file() and (folder / f"{split}_y.bin").is_file()
    ]
    if not present:
        raise ProganError(
            f"STL-10 not found: put train_X.bin and train_y.bin (test_* optional) in {folder}; "
            f"get them by unpacking {URL}"
        )
    chosen = []
    for split in present:
        images, labels = read_split(folder, split)
        chosen.append(to_hwc(images[labels == label]))
    return ArraySource(f"stl10-{CLASSES[label - 1]}", pad(np.concatenate(chosen)))
