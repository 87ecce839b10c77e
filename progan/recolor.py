"""Mask-based recoloring, the laundry project's way of showing every item in every color.

Inside the mask the hue is set to the target (red 0, green 1/3, blue 2/3, from ``config``)
while saturation and value are kept: the folds and soft shading of cloth live in the value
channel, so they survive untouched. Outside the mask every pixel is copied bit for bit.

White and grey cloth has almost no saturation, so its hue is noise and rotating it changes
nothing visible. Such pixels are lifted to a saturation of at least
``RecolorConfig.min_saturation`` (0.5) with their value unchanged: a white towel turns a clear
but light red, green or blue, and its shading is exactly what it was. Pixels that were already
more saturated (colored cloth, colored stripes on white) keep their own saturation.

The color "white" has no hue: it keeps a tenth of the saturation, and lifts the value so that
the lit part of the cloth is as light as white cloth under the same lamps (a gain, so folds stay
folds). The laundry project halved the saturation instead, which left a red shirt pink: a fifth
of its "white" images were not white to the eye or to the color classifier (80.4 % white at
80x48, against 99.8 % for red, green and blue).

A folder run writes every image in every requested color (a balanced set) and a
``labels.csv`` of ``file,color,source`` rows, which a color-conditional model can read later.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.color import hsv2rgb, rgb2hsv

from config import COLOR_HUES, RecolorConfig
from progan import files
from progan.cli import Parser, run, whole_number
from progan.errors import ProganError
from progan.masks import image_files, pair_masks, read_mask, read_photo
from progan.parallel import parallel_map
from progan.progress import progress_bar
from progan.sources import IMAGE_SUFFIXES, UNREADABLE

FORMATS = {"png": ("PNG", ".png", {}), "jpg": ("JPEG", ".jpg", {"quality": 92, "subsampling": 0})}
LABELS_FILE = "labels.csv"
MASKS_FOLDER = "masks"
DEFAULT_RECOLOR = RecolorConfig()


@dataclass(frozen=True)
class Label:
    """One written image: its path relative to the labels file, its color, its original."""

    file: str
    color: str
    source: str


def check_colors(colors: Sequence[str]) -> tuple[str, ...]:
    allowed = ", ".join(COLOR_HUES)
    if not colors:
        raise ProganError(f"give at least one color: {allowed}")
    for color in colors:
        if color not in COLOR_HUES:
            raise ProganError(f"unknown color {color!r}; choose from {allowed}")
    if len(set(colors)) != len(colors):
        raise ProganError(f"colors repeat in {' '.join(colors)}; give each once")
    return tuple(colors)


def recolor(
    image: np.ndarray, mask: np.ndarray, color: str, cfg: RecolorConfig = DEFAULT_RECOLOR
) -> np.ndarray:
    """``image`` (H×W×3 uint8) with the pixels inside ``mask`` turned to ``color``."""
    return recolor_all(image, mask, [color], cfg)[color]


def recolor_all(
    image: np.ndarray,
    mask: np.ndarray,
    colors: Sequence[str],
    cfg: RecolorConfig = DEFAULT_RECOLOR,
) -> dict[str, np.ndarray]:
    """One recolored copy per color; the HSV conversion of the masked pixels is done once.

    ``mask`` is bool, 8-bit (cloth above 127, as hand-drawn masks are read) or a soft float
    mask in [0, 1] (the segmenter's), whose edge pixels blend photo and recolor by its weight.
    Pixels outside the mask (weight 0) are the photo's, bit for bit."""
    colors = check_colors(colors)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ProganError(f"expected an H×W×3 uint8 image, got {image.shape} {image.dtype}")
    if mask.shape != image.shape[:2]:
        raise ProganError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}; masks must match their images"
        )
    weight = None
    if np.issubdtype(mask.dtype, np.floating):  # a soft mask: blended by its weight
        weight = np.clip(mask, 0.0, 1.0)
        inside = weight > 0
        weight = weight[inside][:, None]
    else:
        inside = mask if mask.dtype == bool else mask > 127
    hsv = rgb2hsv(image[inside].astype(np.float32) / 255.0)
    pieces = ndimage.label(inside)[0][inside] if "white" in colors else None
    results = {}
    for color in colors:
        hue = COLOR_HUES[color]
        shifted = hsv.copy()
        if hue is None:
            shifted[:, 1] *= cfg.white_factor
            shifted[:, 2] = np.minimum(1.0, shifted[:, 2] * white_gain(hsv[:, 2], pieces, cfg))
        else:
            shifted[:, 0] = hue
            shifted[:, 1] = np.maximum(shifted[:, 1], cfg.min_saturation)
        changed = np.clip(np.round(hsv2rgb(shifted) * 255.0), 0, 255)
        if weight is not None:
            was = image[inside].astype(np.float64)
            changed = np.round(was + weight * (changed - was))
        out = image.copy()
        out[inside] = changed.astype(np.uint8)
        results[color] = out
    return results


def white_gain(value: np.ndarray, pieces: np.ndarray, cfg: RecolorConfig) -> np.ndarray:
    """Per masked pixel, the factor that lifts its piece of cloth (a connected part of the
    mask: one item, or items that touch) to white: the piece's ``white_quantile`` of value
    becomes ``white_value``; a piece already that light keeps its value."""
    gain = np.ones_like(value)
    for piece in np.unique(pieces):
        members = pieces == piece
        lit = float(np.quantile(value[members], cfg.white_quantile))
        gain[members] = max(1.0, cfg.white_value / max(lit, 1e-3))
    return gain


def recolor_folder(
    images: str | Path,
    masks: str | Path,
    out: str | Path,
    colors: Sequence[str] = tuple(COLOR_HUES),
    cfg: RecolorConfig = DEFAULT_RECOLOR,
    fmt: str = "png",
    workers: int | None = None,
) -> list[Label]:
    """Write ``out/<color>/<name>`` for every image and color, and ``out/labels.csv``.

    PNG keeps the promise that pixels outside the mask are unchanged in the file too; JPEG
    re-encoding perturbs them by a level or two, which is fine for a training set and ten
    times smaller.
    """
    colors = check_colors(colors)
    if fmt not in FORMATS:
        raise ProganError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    pairs = pair_masks(Path(images), Path(masks))
    for color in colors:
        (out / color).mkdir(parents=True, exist_ok=True)
    job = functools.partial(_recolor_file, out=out, colors=colors, cfg=cfg, fmt=fmt)
    per_image = parallel_map(job, pairs, workers, "recolor")
    labels = [label for written in per_image for label in written]
    write_labels(out / LABELS_FILE, labels)
    return labels


def _recolor_file(
    pair: tuple[Path, Path], out: Path, colors: tuple[str, ...], cfg: RecolorConfig, fmt: str
) -> list[Label]:
    image_path, mask_path = pair
    rgb, gray = read_photo(image_path), read_mask(mask_path)
    pil_format, suffix, options = FORMATS[fmt]
    labels = []
    for color, result in recolor_all(rgb, gray, colors, cfg).items():
        target = out / color / f"{image_path.stem}{suffix}"
        files.save_image(target, result, pil_format, **options)
        labels.append(Label(f"{color}/{target.name}", color, image_path.name))
    return labels


@dataclass(frozen=True)
class PredictedRun:
    """What a mask-free recolor wrote: the labels of the recolored images, the photos the
    segmenter found no cloth in (written unchanged, left out of the labels) and the files
    that could not be read."""

    labels: list[Label]
    no_cloth: list[str]
    unreadable: list[str]


def recolor_predicted(
    images: str | Path,
    out: str | Path,
    segmenter: Any,
    colors: Sequence[str] = tuple(COLOR_HUES),
    cfg: RecolorConfig = DEFAULT_RECOLOR,
    fmt: str = "png",
) -> PredictedRun:
    """Write ``out/<color>/<name>`` for every photo of ``images`` at its own size, recolored
    inside the mask ``segmenter`` predicts, the masks as ``out/masks/<name>.png`` (0 belt to
    255 cloth) for a person to check or correct, and ``out/labels.csv``.

    One process: the segmenter's network is loaded once and works on both cores itself."""
    colors = check_colors(colors)
    if fmt not in FORMATS:
        raise ProganError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise ProganError(f"--images {images} is not a folder")
    photos = image_files(images)
    if not photos:
        raise ProganError(f"--images {images} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    for folder in (*colors, MASKS_FOLDER):
        (out / folder).mkdir(parents=True, exist_ok=True)
    pil_format, suffix, options = FORMATS[fmt]
    result = PredictedRun([], [], [])
    for path in progress_bar(photos, desc="recolor", unit="photo"):
        try:
            rgb = read_photo(path)
        except UNREADABLE:
            result.unreadable.append(path.name)
            continue
        mask = segmenter.mask(rgb)
        files.save_image(out / MASKS_FOLDER / f"{path.stem}.png", to_mask_png(mask), "PNG")
        found = segmenter.has_cloth(mask)
        if not found:
            result.no_cloth.append(path.name)
        results = recolor_all(rgb, mask, colors, cfg) if found else dict.fromkeys(colors, rgb)
        for color, image in results.items():
            target = out / color / f"{path.stem}{suffix}"
            files.save_image(target, image, pil_format, **options)
            if found:
                result.labels.append(Label(f"{color}/{target.name}", color, path.name))
    write_labels(out / LABELS_FILE, result.labels)
    return result


def to_mask_png(mask: np.ndarray) -> np.ndarray:
    """A soft mask in [0, 1] as the 8-bit mask files are written: 0 belt to 255 cloth."""
    return np.round(np.clip(mask, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_labels(path: Path, labels: Sequence[Label]) -> None:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["file", "color", "source"])
    writer.writerows((label.file, label.color, label.source) for label in labels)
    files.write_text(path, text.getvalue())


def read_labels(path: str | Path) -> list[Label]:
    with open(path, newline="") as handle:
        return [Label(row["file"], row["color"], row["source"]) for row in csv.DictReader(handle)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="python -m progan.recolor",
        description="Recolor the laundry of every photo into each target color, inside the "
        "masks given or, without --masks, inside the masks the cloth segmenter predicts.",
    )
    parser.add_argument("--images", required=True, type=Path, help="folder of photos")
    parser.add_argument(
        "--masks",
        type=Path,
        help="folder of masks with the photos' names (0 belt, 255 laundry); without it the "
        "segmenter predicts them and writes them to OUT/masks",
    )
    parser.add_argument(
        "--segmenter",
        type=Path,
        help="a segmenter export (default: the shipped one, checkpoints/segmenter)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--colors",
        nargs="+",
        default=list(COLOR_HUES),
        help=f"target colors (default: all of {' '.join(COLOR_HUES)})",
    )
    parser.add_argument("--format", default="png", help="png (lossless, default) or jpg")
    parser.add_argument(
        "--workers", type=whole_number(1), help="processes, with --masks (default: cores)"
    )
    args = parser.parse_args(argv)
    if args.masks is None:
        if args.workers is not None:
            raise ProganError("--workers splits mask files over processes; give it with --masks")
        line = recolor_without_masks(
            args.images, args.out, args.segmenter, args.colors, args.format
        )
        print(line)
        return 0
    if args.segmenter is not None:
        raise ProganError("--segmenter predicts masks; with --masks it has nothing to do")
    labels = recolor_folder(
        args.images, args.masks, args.out, args.colors, fmt=args.format, workers=args.workers
    )
    print(summary(labels, args.out, len(args.colors)))
    return 0


def recolor_without_masks(
    images: Path, out: Path, segmenter: Path | None, colors: Sequence[str], fmt: str = "png"
) -> str:
    """The mask-free command (``recolor`` without ``--masks``, ``translate``): the segmenter
    export at ``segmenter`` (or the shipped one) loaded once the flags are known to be good;
    returns the line that says what was written."""
    check_colors(colors)
    from progan.quiet import import_backend

    import_backend()
    from progan.segment.segmenter import load_segmenter

    result = recolor_predicted(images, out, load_segmenter(segmenter), colors, fmt=fmt)
    unreadable = listed("unreadable, skipped", result.unreadable)
    no_cloth = listed("with no cloth found, written unchanged", result.no_cloth)
    return summary(result.labels, out, len(colors)) + unreadable + no_cloth


def summary(labels: list[Label], out: Path, colors: int) -> str:
    sources = len({label.source for label in labels})
    return (
        f"wrote {len(labels)} images ({sources} × {colors} colors) to {out}; "
        f"labels in {Path(out) / LABELS_FILE}"
    )


def listed(what: str, names: list[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
    return f"; {len(names)} {what}: {shown}"


if __name__ == "__main__":
    run(main)
