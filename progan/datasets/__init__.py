"""Named data sets: the procedural laundry belt (the embedded default), grey shapes (a small
square grey set) and our users' seed sets.

``--data`` takes a folder or one of these names; :func:`named_source` resolves a name to an
image source, building the laundry sets under ``data_root`` the first time they are asked for.
Each loader is imported only when its name is used, so asking for the laundry set never
imports TensorFlow through keras.
"""

from __future__ import annotations

from pathlib import Path

from config import LaundryConfig
from progan.errors import ProganError
from progan.sources import ImageSource

SPECS = ("laundry", "laundry-recolored", "shapes", "cifar10:CLASS", "stl10:CLASS")
LAUNDRY = LaundryConfig()


def named_source(spec: str, data_root: Path, laundry: LaundryConfig = LAUNDRY) -> ImageSource:
    """``laundry``, ``laundry-recolored``, ``cifar10:automobile``, ``stl10:car``, …

    ``laundry`` sets the size of the laundry sets; the default is the 2,000-image set the
    shipped model was trained on, tests pass a small one.
    """
    from progan.sources import FolderSource

    data_root = Path(data_root)
    family, _, name = spec.strip().partition(":")
    family = family.lower()
    if family == "laundry" and not name:
        from progan.datasets.laundry import generate

        return FolderSource(generate(data_root / "laundry", laundry) / "images", name="laundry")
    if family == "laundry-recolored" and not name:
        from progan.datasets.laundry.recolored import build

        return FolderSource(build(data_root, laundry), name="laundry-recolored")
    if family == "shapes" and not name:
        from progan.datasets.shapes import generate

        return FolderSource(generate(data_root / "shapes"), name="shapes")
    if family == "cifar10":
        from progan.datasets.cifar import CLASSES, cifar10_source

        _need_class(spec, name, CLASSES)
        return cifar10_source(name)
    if family == "stl10":
        from progan.datasets.stl10 import CLASSES, stl10_source

        _need_class(spec, name, CLASSES)
        return stl10_source(name, data_root)
    raise ProganError(
        f"--data {spec!r} is neither a folder nor a named data set; give a folder of images "
        f"or one of {', '.join(SPECS)}"
    )


def _need_class(spec: str, name: str, classes: tuple[str, ...]) -> None:
    if not name.strip():
        raise ProganError(f"--data {spec!r} needs a class after the colon: {', '.join(classes)}")
