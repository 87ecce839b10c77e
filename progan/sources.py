"""Where training images come from: a folder on disk or an in-memory array, behind one interface.

A source yields RGB uint8 arrays of any size; the per-stage cache in :mod:`progan.data` pads and
resizes them. Sources are cheap to open and say who they are through a fingerprint, so the cache
is rebuilt exactly when the images change. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from progan.errors import ProganError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
LABELS_CSV = "labels.csv"
# Columns of labels.csv that may hold the class, in order of preference (the recolored laundry
# set writes ``file,color,source``).
LABEL_COLUMNS = ("label", "class", "color")


class ImageSource(Protocol):
    name: str
    # Files that could not be read during the last ``images()`` pass, appended before the
    # next image is yielded.
    skipped: list[Path]

    def __len__(self) -> int: ...

    def fingerprint(self) -> str: ...

    def images(self) -> Iterator[np.ndarray]: ...


# What Pillow raises for a file it cannot decode: a damaged PNG chunk after the first is a
# SyntaxError, an image over its pixel limit a DecompressionBombError (neither an OSError).
UNREADABLE = (
    OSError,
    UnidentifiedImageError,
    ValueError,
    SyntaxError,
    Image.DecompressionBombError,
)


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
            except UNREADABLE as err:
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


@dataclass(frozen=True)
class Labels:
    """Class names (sorted, so the index of a name never depends on file order) and one class
    index per image of the source, in the source's order."""

    classes: tuple[str, ...]
    indices: np.ndarray


def source_labels(source: ImageSource) -> Labels:
    """The class of every image of a folder: from ``labels.csv`` at its root when there is one,
    else from the subfolder each image lies in (``DATA/red/1.png`` is ``red``)."""
    if not isinstance(source, FolderSource):
        raise ProganError(
            f"{source.name} has no class labels; --labels needs an image folder with "
            f"{LABELS_CSV} or one subfolder per class"
        )
    root = source.root
    relative = [path.relative_to(root).as_posix() for path in source.files]
    if (root / LABELS_CSV).is_file():
        names = _labels_from_csv(root / LABELS_CSV, relative)
    else:
        loose = [name for name in relative if "/" not in name]
        if loose:
            raise ProganError(
                f"{root} has no {LABELS_CSV} and {len(loose)} images lie outside class "
                f"subfolders (e.g. {loose[0]}); put each image in a folder named after its class "
                f"or add {LABELS_CSV} with file,label rows"
            )
        names = [name.split("/", 1)[0] for name in relative]
    classes = tuple(sorted(set(names)))
    if len(classes) < 2:
        raise ProganError(
            f"{root} has one class ({classes[0]}); --labels needs at least two classes"
        )
    index = {name: i for i, name in enumerate(classes)}
    return Labels(classes, np.array([index[name] for name in names], dtype=np.int32))


def _labels_from_csv(path: Path, files: list[str]) -> list[str]:
    """The label of each of ``files`` (paths relative to the CSV's folder) from ``path``."""
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            column = next((c for c in LABEL_COLUMNS if c in fields), None)
            if "file" not in fields or column is None:
                raise ProganError(
                    f"{path} needs a header with 'file' and one of {', '.join(LABEL_COLUMNS)}; "
                    f"it has {', '.join(fields) or 'none'}"
                )
            rows = {row["file"]: (row[column] or "").strip() for row in reader}
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ProganError(f"cannot read {path}: {err}") from err
    missing = sorted(set(rows) - set(files))
    if missing:
        raise ProganError(
            f"{path} names {len(missing)} files that are not images in {path.parent} "
            f"(e.g. {missing[0]}); fix the file column or restore the images"
        )
    unlabeled = [name for name in files if not rows.get(name)]
    if unlabeled:
        raise ProganError(
            f"{len(unlabeled)} images in {path.parent} have no label in {path} "
            f"(e.g. {unlabeled[0]}); give every image a row with its class"
        )
    return [rows[name] for name in files]


def recolor_groups(source: ImageSource) -> list[np.ndarray]:
    """Positions of the images that are versions of one photo (labels.csv's ``source`` column,
    as the recolored laundry set writes it), groups of two or more; none for other sources."""
    path = getattr(source, "root", Path()) / LABELS_CSV
    if not isinstance(source, FolderSource) or not path.is_file():
        return []
    position = {p.relative_to(source.root).as_posix(): i for i, p in enumerate(source.files)}
    groups: dict[str, list[int]] = {}
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("source") and row.get("file") in position:
                    groups.setdefault(row["source"], []).append(position[row["file"]])
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ProganError(f"cannot read {path}: {err}") from err
    return [np.array(sorted(g)) for _, g in sorted(groups.items()) if len(g) > 1]
