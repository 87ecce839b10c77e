"""The two unpaired domains and the held-out pairs, from the procedural laundry set.

Domain A is the original photos (mostly white items), domain B the mask-based recolor in one
color. The laundry set holds both versions of every photo, which a translator must never see
as pairs: A takes the first ``domain_images`` photos, B the recolors of the next
``domain_images``, and the ``test_images`` after those are held out with their recolor as the
ground truth and the laundry mask telling belt from item. Arrays are cached per color,
resolution and split; quantized copies (the color curriculum) per K beside them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from config import CycleGANConfig, LaundryConfig
from progan import files
from progan.data import fit_to
from progan.datasets import laundry
from progan.errors import ProganError
from progan.progress import progress_bar
from progan.quantize import kmeans_images
from progan.resolution import format_res
from progan.sources import UNREADABLE

SPLITS = ("train_a", "train_b", "test_a", "test_truth", "test_belt")


@dataclass
class Domains:
    train_a: np.ndarray  # N×H×W×3 uint8
    train_b: np.ndarray
    test_a: np.ndarray
    test_truth: np.ndarray  # the recolor of each test photo: what a perfect translator draws
    test_belt: np.ndarray  # N×H×W bool: belt pixels of each test photo
    folder: Path
    _quantized: dict = field(default_factory=dict, repr=False)

    def quantized(self, split: str, k: int) -> np.ndarray:
        """``split`` with every image quantized to ``k`` colors: computed once and cached on
        disk, then kept in memory (a training step asks for it every iteration)."""
        if (split, k) not in self._quantized:
            path = self.folder / f"{split}-k{k}.npy"
            if not path.is_file():
                files.save_npy(path, kmeans_images(getattr(self, split), k))
            self._quantized[(split, k)] = np.load(path)
        return self._quantized[(split, k)]


def load_photo(path: Path, res: tuple[int, int]) -> np.ndarray:
    """A photo padded to the aspect ratio of ``res`` and area-resized to it, as RGB uint8."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except UNREADABLE as err:
        raise ProganError(f"cannot read {path}: {err}") from err
    return fit_to(pixels, res)


def laundry_domains(cfg: CycleGANConfig, laundry_cfg: LaundryConfig = laundry.DEFAULT) -> Domains:
    """The domains of ``cfg`` from the laundry set under ``cfg.data_root`` (made if missing)."""
    from progan.datasets.laundry.recolored import build

    needed = 2 * cfg.domain_images + cfg.test_images
    if laundry_cfg.n < needed:
        raise ProganError(
            f"the laundry set has {laundry_cfg.n} photos; two domains of {cfg.domain_images} and "
            f"{cfg.test_images} held out need {needed}"
        )
    root = Path(cfg.data_root)
    recolored = build(root, laundry_cfg)
    photos = root / "laundry"
    folder = (
        root
        / "cache"
        / (
            f"cyclegan-{cfg.color}-{format_res(cfg.res)}-{cfg.domain_images}-{cfg.test_images}"
            f"-{_fingerprint(laundry_cfg)}"
        )
    )
    if not all((folder / f"{split}.npy").is_file() for split in SPLITS):
        _write(folder, cfg, photos, recolored)
    arrays = {split: np.load(folder / f"{split}.npy") for split in SPLITS}
    return Domains(**arrays, folder=folder)


def _fingerprint(laundry_cfg: LaundryConfig) -> str:
    """The recolored set's settings (the photos', the colors' and the recoloring's) in eight
    hex digits: domain B and the truth are its recolors, so another recoloring is another cache."""
    from progan.datasets.laundry import recolored

    text = json.dumps(recolored.settings(laundry_cfg), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def _write(folder: Path, cfg: CycleGANConfig, photos: Path, recolored: Path) -> None:
    names = sorted(p.stem for p in (photos / "images").iterdir() if p.suffix == ".jpg")
    a, b = cfg.domain_images, cfg.domain_images
    splits = {
        "train_a": [photos / "images" / f"{n}.jpg" for n in names[:a]],
        "train_b": [recolored / cfg.color / f"{n}.jpg" for n in names[a : a + b]],
        "test_a": [photos / "images" / f"{n}.jpg" for n in names[a + b : a + b + cfg.test_images]],
        "test_truth": [
            recolored / cfg.color / f"{n}.jpg" for n in names[a + b : a + b + cfg.test_images]
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    total = sum(map(len, splits.values()))
    with progress_bar(total=total, desc=f"caching the {cfg.color} domains", unit="img") as bar:
        for split, paths in splits.items():
            images = []
            for path in paths:
                images.append(load_photo(path, cfg.res))
                bar.update()
            files.save_npy(folder / f"{split}.npy", np.stack(images))
    masks = [photos / "masks" / f"{n}.png" for n in names[a + b : a + b + cfg.test_images]]
    belt = [load_photo(path, cfg.res)[..., 0] < 128 for path in masks]
    files.save_npy(folder / "test_belt.npy", np.stack(belt))
