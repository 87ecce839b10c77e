"""How close a translation comes to the ground truth the procedural data provides.

For every held-out photo the laundry set holds its mask-based recolor, so a translation can be
measured instead of judged by eye: the mean L1 distance in CIE Lab (|ΔL| + |Δa| + |Δb| per
pixel, averaged; Lab so that a distance means about the same difference to the eye anywhere in
color space), the SSIM to the truth (RGB, window 7), and how much of the belt the translator
changed: the share of belt pixels whose color moved by more than ΔE76 10 from the photo (a
recolor must leave the belt alone; the truth itself moves a few, where JPEG noise and the
resized mask's edges blur belt and item). The share of item pixels changed says whether the
laundry was recolored at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.color import rgb2lab
from skimage.metrics import structural_similarity

# A belt or item pixel counts as changed when its color moved by more than this ΔE76.
CHANGED_DELTA_E = 10.0


def lab(images: np.ndarray) -> np.ndarray:
    return rgb2lab(np.asarray(images, np.uint8)).astype(np.float32)


def scores(photos, outputs, truth, belt) -> dict[str, float]:
    """Means over the held-out photos (all N×H×W×3 uint8, ``belt`` N×H×W bool)."""
    lab_photo, lab_out, lab_truth = lab(photos), lab(outputs), lab(truth)
    moved = np.sqrt(np.square(lab_out - lab_photo).sum(-1)) > CHANGED_DELTA_E
    ssim = [
        structural_similarity(o, t, channel_axis=-1, data_range=255, win_size=7)
        for o, t in zip(outputs, truth, strict=True)
    ]
    return {
        "lab_l1": float(np.abs(lab_out - lab_truth).sum(-1).mean()),
        "ssim": float(np.mean(ssim)),
        "belt_changed": float(moved[belt].mean()),
        "item_changed": float(moved[~belt].mean()),
    }


def loss_curve(folder: Path, every: int = 1000) -> list[float]:
    """The generator's loss averaged over each ``every`` iterations of the log in ``folder``
    (a run's, or a shipped translator's own)."""
    from progan.cyclegan.trainer import logged_iterations
    from progan.run_folder import METRICS_JSONL

    buckets: dict[int, list[float]] = {}
    for record in logged_iterations(folder / METRICS_JSONL):
        buckets.setdefault((record["iteration"] - 1) // every, []).append(record["g_loss"])
    return [float(np.mean(buckets[k])) for k in sorted(buckets)]
