"""The laundry-belt data set on disk: photos, masks and a manifest, built in parallel, resumable.

Layout of a data set folder::

    images/00000.jpg      1280×720 photo (JPEG, quality 92, no chroma subsampling)
    masks/00000.png       0 = belt, 255 = laundry
    instances/00000.png   0 = belt, k = item k (the topmost item wins where items overlap)
    manifest.json         settings, and per image the items it shows (kind, color, print)

Photos are JPEG as the real camera's are: a tenth of the size of PNG at no visible cost, which
matters for thousands of images. Masks are PNG because they must be exact. Every file is
written under a temporary name and renamed, so an interrupted run resumes where it stopped and
never leaves a truncated file behind; ``manifest.json`` is written last and marks completion.

The renderer lives beside this module: ``scene`` composes a photo from ``belt`` (the conveyor and
its light), ``cloth`` (the kinds of item and their folds) and ``noise`` (the textures both use);
``recolored`` derives the color-labelled set from a built one, ``sheet`` draws contact sheets.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from config import LaundryConfig
from progan import files
from progan.datasets.laundry.scene import Scene, make_example, sample_scene
from progan.errors import ProganError
from progan.latent import SEED_LIMIT
from progan.parallel import parallel_map
from progan.resolution import format_res

VERSION = 1
SUBFOLDERS = ("images", "masks", "instances")
DEFAULT = LaundryConfig()


def settings(cfg: LaundryConfig) -> dict:
    return {
        "dataset": "laundry",
        "version": VERSION,
        "seed": cfg.seed,
        "count": cfg.n,
        "size": format_res(cfg.size),
        "white_share": cfg.white_share,
        "pattern_share": cfg.pattern_share,
        "max_items": cfg.max_items,
    }


def is_complete(out: Path, cfg: LaundryConfig) -> bool:
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        written = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    return written.get("settings") == settings(cfg)


def generate(out: str | Path, cfg: LaundryConfig = DEFAULT, workers: int | None = None) -> Path:
    """Write the data set ``cfg`` describes into ``out``; a complete one is left untouched."""
    out = Path(out)
    _check(cfg)
    if is_complete(out, cfg):
        return out
    _prepare(out, cfg)
    tqdm.write(
        f"generating the laundry data set: {cfg.n} images of {format_res(cfg.size)} "
        f"(seed {cfg.seed}) into {out}",
        file=sys.stderr,
    )
    job = functools.partial(_write_one, out=out, cfg=cfg)
    items = parallel_map(job, range(cfg.n), workers, desc="laundry")
    manifest = {
        "settings": settings(cfg),
        "images": [{"name": name(i), "items": listed} for i, listed in enumerate(items)],
    }
    files.write_json(out / "manifest.json", manifest)
    return out


def name(index: int) -> str:
    return f"{index:05d}"


def _check(cfg: LaundryConfig) -> None:
    if cfg.n < 1:
        raise ProganError(f"--n must be at least 1, got {cfg.n}")
    if not 0 <= cfg.seed < SEED_LIMIT:
        raise ProganError(f"--seed must be in [0, 2**32), got {cfg.seed}")
    height, width = cfg.size
    if height < 90 or width < 160:
        raise ProganError(f"image size must be at least 160x90, got {format_res(cfg.size)}")


def _prepare(out: Path, cfg: LaundryConfig) -> None:
    """Start or resume: files of a run with other settings are removed, foreign folders refused."""
    marker = out / "settings.json"
    if out.exists() and not out.is_dir():
        raise ProganError(f"{out} is a file; pass a folder for the data set")
    if out.is_dir() and any(out.iterdir()):
        try:
            saved = json.loads(marker.read_text())
        except (OSError, ValueError):
            saved = None
        # Only a folder this code made is ever cleared: another project's settings.json is not
        if not isinstance(saved, dict) or saved.get("dataset") != "laundry":
            raise ProganError(
                f"{out} is not empty and holds no laundry data set; choose an empty or new folder"
            )
        if saved != settings(cfg):
            for sub in (*SUBFOLDERS, "manifest.json"):
                path = out / sub
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
    for sub in SUBFOLDERS:
        (out / sub).mkdir(parents=True, exist_ok=True)
    files.write_json(marker, settings(cfg))


def _paths(out: Path, index: int) -> tuple[Path, Path, Path]:
    stem = name(index)
    return (
        out / "images" / f"{stem}.jpg",
        out / "masks" / f"{stem}.png",
        out / "instances" / f"{stem}.png",
    )


def describe(scene: Scene) -> list[dict]:
    """What the manifest records of each item, in instance order (item k has instance k)."""
    return [
        {
            "instance": k,
            "kind": item.garment.kind,
            "color": item.garment.color_name,
            "white": item.garment.white,
            "pattern": item.garment.pattern,
        }
        for k, item in enumerate(scene.items, start=1)
    ]


def _write_one(index: int, out: Path, cfg: LaundryConfig) -> list[dict]:
    """Render and save image ``index`` unless a previous run already did; return its items."""
    image_path, mask_path, instance_path = _paths(out, index)
    if image_path.exists() and mask_path.exists() and instance_path.exists():
        return describe(sample_scene(np.random.default_rng([cfg.seed, index]), cfg))
    example = make_example(cfg.seed, index, cfg)
    files.save_image(image_path, example.image, "JPEG", quality=92, subsampling=0)
    files.save_image(mask_path, example.mask, "PNG")
    files.save_image(instance_path, example.instances, "PNG")
    return describe(example.scene)
