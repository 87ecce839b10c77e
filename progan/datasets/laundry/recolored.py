"""The default training set: the laundry photos plus a recolored copy of each in every color.

The laundry project trained on its photos and their recolored copies, so that red, green, blue
and white laundry exist in the data and the color tools have something to find. Layout::

    laundry-recolored/images/original/00000.jpg   link to laundry/images/00000.jpg
    laundry-recolored/images/red/00000.jpg        (and green, blue, white)
    laundry-recolored/images/labels.csv           file,color,source for every image above
    laundry-recolored/manifest.json               settings; written last, marks completion

Masks stay in the laundry folder, outside ``images/``, because the trainer reads every image
below ``images/``. The set is built in a temporary folder and renamed, so it is never half made.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from config import COLOR_HUES, LaundryConfig, RecolorConfig
from progan import files
from progan.datasets import laundry
from progan.recolor import DEFAULT_RECOLOR, Label, recolor_folder, write_labels

ORIGINAL = "original"


def settings(cfg: LaundryConfig, recolor_cfg: RecolorConfig = DEFAULT_RECOLOR) -> dict:
    """What the recolored set is made from: another value, another set (and other caches)."""
    return {
        "laundry": laundry.settings(cfg),
        "colors": list(COLOR_HUES),
        "recolor": dataclasses.asdict(recolor_cfg),
        "format": "jpg",
    }


def build(
    data_root: str | Path,
    cfg: LaundryConfig = laundry.DEFAULT,
    recolor_cfg: RecolorConfig = DEFAULT_RECOLOR,
    workers: int | None = None,
) -> Path:
    """Make sure ``data_root/laundry-recolored`` is complete; return its ``images`` folder."""
    data_root = Path(data_root)
    source = laundry.generate(data_root / "laundry", cfg, workers)
    out = data_root / "laundry-recolored"
    made_from = settings(cfg, recolor_cfg)
    manifest = out / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("settings") == made_from:
        return out / "images"

    tqdm.write(f"recoloring the laundry data set into {out}", file=sys.stderr)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    images = tmp / "images"
    labels = recolor_folder(
        source / "images", source / "masks", images, tuple(COLOR_HUES), recolor_cfg, "jpg", workers
    )
    originals = images / ORIGINAL
    originals.mkdir(parents=True)
    for photo in sorted((source / "images").glob("*.jpg")):
        _link(photo, originals / photo.name)
        labels.append(Label(f"{ORIGINAL}/{photo.name}", ORIGINAL, photo.name))
    write_labels(images / "labels.csv", sorted(labels, key=lambda label: label.file))
    files.write_json(tmp / "manifest.json", {"settings": made_from})
    files.sync_tree(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    files.sync(out.parent)
    return out / "images"


def _link(target: Path, link: Path) -> None:
    """A relative symlink (it survives moving the data folder); a copy where links fail."""
    try:
        os.symlink(os.path.relpath(target, link.parent), link)
    except OSError:
        shutil.copy2(target, link)
