"""Mask-free recoloring measured against the truth: the shipped cloth segmenter on laundry photos
it never saw, at their full resolution.

    python bench/segment_recolor.py [--segmenter checkpoints/segmenter] [--n 40] [--seed 7]
                                    [--runs ~/runs/segment-bench] [--figure docs/F.png]

Photos of a fresh render seed (built once under ``--runs``) are segmented and recolored into
every color. Printed: mask IoU at 1280x720 and on perturbed copies (upscaled to 1920x1080,
darker, JPEG quality 70); PSNR of each color against the recolor made with the true mask,
beside the CycleGAN translator's output upscaled to the photo and the untouched photo; the mean
change of the pixels more than 8 px from the cloth; the time per photo of the mask and of each
color. Then the working resolutions compared by what they allow at best: the true mask shrunk
to each, refined back to 1280x720 with the photo as guide (the IoU a perfect network would
get), beside its cost relative to 256x144.
"""

from __future__ import annotations

import dataclasses
import io
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

from config import COLOR_HUES, LaundryConfig  # noqa: E402
from progan.cli import Parser, count, run, whole_number  # noqa: E402
from progan.latent import SEED_LIMIT, image_grid  # noqa: E402

RESOLUTIONS = ((90, 160), (144, 256), (192, 320), (288, 512))
BANDS = (1.0, 0.5, 0.25, 0.1)
FAR_PIXELS = 8


def build_parser() -> Parser:
    parser = Parser(prog="python bench/segment_recolor.py", description=__doc__.splitlines()[0])
    parser.add_argument("--segmenter", help="a segmenter export (default: the shipped one)")
    parser.add_argument("--n", type=count(), default=40, help="photos (40)")
    parser.add_argument("--seed", type=whole_number(0, SEED_LIMIT - 1), default=7,
                        help="render seed, not the training set's 0 (7)")  # fmt: skip
    parser.add_argument("--runs", default=str(Path.home() / "runs" / "segment-bench"))
    parser.add_argument("--figure", help="PNG: photo, mask, four colors, truth, translator")
    return parser


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    a, b = predicted >= 0.5, truth >= 0.5
    return float((a & b).sum() / max((a | b).sum(), 1))


def jpeg(photo: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def perturbed(photo: np.ndarray, truth: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    big = np.asarray(Image.fromarray(photo).resize((1920, 1080), Image.Resampling.BICUBIC))
    big_truth = (
        np.asarray(Image.fromarray((truth * 255).astype(np.uint8)).resize((1920, 1080))) / 255.0
    )
    darker = np.clip(photo.astype(np.float32) * 0.6, 0, 255).astype(np.uint8)
    return {
        "1280x720": (photo, truth),
        "upscaled to 1920x1080": (big, big_truth),
        "darker (x0.6)": (darker, truth),
        "JPEG quality 70": (jpeg(photo, 70), truth),
    }


def at_photo_size(translated: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The translator's output (the photo padded to its aspect, then shrunk) with the padding
    cut off and scaled back to the photo's ``shape`` (bicubic)."""
    from progan.data import padded_shape

    height, width = shape
    padded_height, padded_width = padded_shape(shape, translated.shape[:2])
    scale_y, scale_x = translated.shape[0] / padded_height, translated.shape[1] / padded_width
    top, left = (padded_height - height) / 2, (padded_width - width) / 2
    rows = slice(round(top * scale_y), round((top + height) * scale_y))
    columns = slice(round(left * scale_x), round((left + width) * scale_x))
    content = Image.fromarray(np.ascontiguousarray(translated[rows, columns]))
    return np.asarray(content.resize((width, height), Image.Resampling.BICUBIC))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from progan.quiet import import_backend

    import_backend()
    from progan.cyclegan.translator import load_translator
    from progan.datasets.laundry import generate
    from progan.recolor import recolor_all
    from progan.segment.refine import guided_upsample, resize_area, stretch
    from progan.segment.segmenter import load_segmenter

    segmenter = load_segmenter(args.segmenter)
    translator = load_translator(None)
    cfg = dataclasses.replace(LaundryConfig(), n=args.n, seed=args.seed)
    folder = generate(Path(args.runs) / f"laundry-seed{args.seed}-n{args.n}", cfg)
    names = sorted(p.stem for p in (folder / "images").iterdir())
    colors = list(COLOR_HUES)
    ious: dict[str, list[float]] = {}
    scores: dict[str, list[float]] = {f"{c}, predicted mask": [] for c in colors}
    scores |= {f"{c}, untouched photo": [] for c in colors}
    scores[f"{translator.target}, CycleGAN translator"] = []
    far, mask_seconds, color_seconds = [], [], []
    oracle = {res: [] for res in RESOLUTIONS}
    bands = {band: ([], []) for band in BANDS}
    shown = []
    for name in names:
        photo = np.asarray(Image.open(folder / "images" / f"{name}.jpg").convert("RGB"))
        truth_u8 = np.asarray(Image.open(folder / "masks" / f"{name}.png"))
        truth = truth_u8 / 255.0
        started = time.perf_counter()
        probability = segmenter.probability(photo)
        predicted_mask = segmenter.refined(probability, photo)
        mask_seconds.append(time.perf_counter() - started)
        for label, (image, true) in perturbed(photo, truth).items():
            mask = predicted_mask if image is photo else segmenter.mask(image)
            ious.setdefault(label, []).append(iou(mask, true))
        started = time.perf_counter()
        recolored = recolor_all(photo, predicted_mask, colors)
        color_seconds.append((time.perf_counter() - started) / len(colors))
        expected = recolor_all(photo, truth_u8, colors)
        for color in colors:
            scores[f"{color}, predicted mask"].append(psnr(recolored[color], expected[color]))
            scores[f"{color}, untouched photo"].append(psnr(photo, expected[color]))
        upscaled = at_photo_size(translator.translate([photo])[0], photo.shape[:2])
        scores[f"{translator.target}, CycleGAN translator"].append(
            psnr(upscaled, expected[translator.target])
        )
        away = ~ndimage.binary_dilation(truth_u8 > 127, iterations=FAR_PIXELS)
        far.append(max(np.abs(recolored[c][away].astype(int) - photo[away]).mean() for c in colors))
        refined = guided_upsample(probability, photo, segmenter.radius, segmenter.eps)
        reach = segmenter.reach(probability, photo.shape[:2])
        for band, (band_ious, band_psnr) in bands.items():
            soft = np.where(reach, stretch(refined, band), np.float32(0.0))
            band_ious.append(iou(soft, truth))
            red = recolor_all(photo, soft, ["red"])["red"]
            band_psnr.append(psnr(red, expected["red"]))
        for res in RESOLUTIONS:
            small = resize_area(np.repeat(truth_u8[..., None], 3, -1), res)[..., 0]
            refined = stretch(guided_upsample(small, photo, 2, 1e-3), 0.25)
            oracle[res].append(iou(refined, truth))
        if len(shown) < 3:
            shown.append([photo, predicted_mask, recolored, expected, upscaled])
    print(f"{len(names)} unseen photos (render seed {args.seed}), segmenter {segmenter.path}\n")
    print("| photos | mask IoU (mean) | worst |\n|---|---:|---:|")
    for label, values in ious.items():
        print(f"| {label} | {np.mean(values):.4f} | {np.min(values):.4f} |")
    print("\n| recolor against the true-mask recolor | PSNR dB (mean) | worst |\n|---|---:|---:|")
    for label, values in scores.items():
        print(f"| {label} | {np.mean(values):.2f} | {np.min(values):.2f} |")
    print(f"\npixels more than {FAR_PIXELS} px from the cloth: mean change {np.mean(far):.4f} "
          f"levels (worst photo {np.max(far):.4f})")  # fmt: skip
    print(f"time per 1280x720 photo: mask {1e3 * np.median(mask_seconds):.0f} ms, each color "
          f"{1e3 * np.median(color_seconds):.0f} ms (medians); four colors "
          f"{np.median(mask_seconds) + 4 * np.median(color_seconds):.2f} s")  # fmt: skip
    print("\n| working resolution | IoU of the true mask shrunk and refined | network cost |")
    print("|---|---:|---:|")
    for (height, width), values in oracle.items():
        cost = height * width / (144 * 256)
        print(f"| {width}x{height} | {np.mean(values):.4f} | {cost:.2f}x |")
    print(f"\n| refine band (shipped {segmenter.band:g}) | mask IoU | red PSNR dB |")
    print("|---|---:|---:|")
    for band, (band_ious, band_psnr) in bands.items():
        print(f"| {band:g} | {np.mean(band_ious):.4f} | {np.mean(band_psnr):.2f} |")
    if args.figure:
        write_figure(Path(args.figure), shown, colors, translator.target)
        print(f"\nwrote {args.figure}")
    return 0


def write_figure(path: Path, shown: list, colors: list[str], target: str) -> None:
    """Per photo a row: photo, predicted mask, the four recolors, the true-mask recolor and the
    translator's output in its color; then a 1:1 crop of the first photo's cloth edge."""
    from progan import files

    tiles = []
    for photo, mask, recolored, expected, translated in shown:
        mask_rgb = np.repeat(np.round(mask * 255).astype(np.uint8)[..., None], 3, -1)
        row = [photo, mask_rgb, *(recolored[c] for c in colors), expected[target], translated]
        tiles += [np.asarray(Image.fromarray(t).resize((480, 270), Image.BOX)) for t in row]
    photo, mask, recolored, expected, translated = shown[0]
    ys, xs = np.nonzero((mask > 0.05) & (mask < 0.95))
    y, x = (int(np.median(ys)), int(np.median(xs))) if len(ys) else (360, 640)
    y, x = min(max(y - 135, 0), 720 - 270), min(max(x - 240, 0), 1280 - 480)
    crop = np.s_[y : y + 270, x : x + 480]
    mask_rgb = np.repeat(np.round(mask * 255).astype(np.uint8)[..., None], 3, -1)
    row = [photo, mask_rgb, *(recolored[c] for c in colors), expected[target], translated]
    tiles += [t[crop] for t in row]
    files.save_image(path, image_grid(np.stack(tiles), columns=len(row)))


if __name__ == "__main__":
    run(main)
