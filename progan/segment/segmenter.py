"""A trained cloth segmenter, loaded for use: a photo in, its soft cloth mask at the photo's own
size out. The recolor CLI, the studio and the benches all go through :func:`load_segmenter`.

An export is a folder with ``segmenter.json`` (what the network is, its working resolution and
refinement, how it was trained and measured) and ``segmenter.npz`` (the weights by layer path,
stored as float16: half the size, and the masks it predicts do not change at 8 bits).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.special import expit

from config import DEFAULT_MODEL_DIR
from progan import files
from progan.errors import ProganError
from progan.segment.network import unet
from progan.segment.refine import drop_specks, guided_upsample, resize_area, stretch

SEGMENTER_JSON = "segmenter.json"
WEIGHTS = "segmenter.npz"
DEFAULT_SEGMENTER = DEFAULT_MODEL_DIR / "segmenter"


def write_segmenter(folder: Path, model: Any, info: dict[str, Any]) -> Path:
    """Write an export of ``model`` into ``folder`` (weights first: the JSON marks it whole)."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = {v.path: np.asarray(v.numpy(), np.float16) for v in model.weights}
    files.save_npz(folder / WEIGHTS, weights)
    files.write_json(folder / SEGMENTER_JSON, {"kind": "segmenter", **info}, indent=2)
    return folder


def load_weights(model: Any, path: Path) -> None:
    """Assign the weights of the export file ``path`` to ``model``, refusing a file that is
    damaged or was written for another shape of network."""
    try:
        with np.load(path) as archive:
            arrays = dict(archive)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ProganError(f"cannot read the segmenter weights {path}: {err}") from err
    for variable in model.weights:
        value = arrays.get(variable.path)
        if value is None or tuple(value.shape) != tuple(variable.shape):
            found = "missing" if value is None else f"of shape {tuple(value.shape)}"
            raise ProganError(
                f"{path} does not fit this segmenter: {variable.path} is {found}, expected "
                f"{tuple(variable.shape)}; was it written by another version?"
            )
        variable.assign(value.astype(np.float32))


class Segmenter:
    """The network of an export, its working resolution and its refinement."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder)
        try:
            info = json.loads((self.path / SEGMENTER_JSON).read_text())
            self.res = (int(info["res"][0]), int(info["res"][1]))
            widths = tuple(int(w) for w in info["widths"])
            self.radius = int(info["refine_radius"])
            self.eps = float(info["refine_eps"])
            self.band = float(info["refine_band"])
            self.min_cloth_share = float(info["min_cloth_share"])
        except FileNotFoundError as err:
            raise ProganError(
                f"{self.path} holds no segmenter ({SEGMENTER_JSON} is missing); train one with "
                "python -m progan.segment train"
            ) from err
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
            raise ProganError(f"{self.path / SEGMENTER_JSON} is damaged: {err}") from err
        self.info = info
        self.model = unet(widths)
        load_weights(self.model, self.path / WEIGHTS)

    def probability(self, photo: np.ndarray) -> np.ndarray:
        """The cloth probability of ``photo`` (H×W×3 uint8) at the working resolution."""
        small = resize_area(photo, self.res) * 2.0 - 1.0
        logits = np.asarray(self.model(small[None], training=False))[0, ..., 0]
        return expit(logits.astype(np.float32))

    def mask(self, photo: np.ndarray) -> np.ndarray:
        """The soft cloth mask of ``photo`` at its own size: H×W float32 in [0, 1].

        Guided upsampling, then stretched about 0.5 by the export's ``refine_band`` (see
        :func:`~progan.segment.refine.stretch`), zero beyond the filter's reach of the
        predicted cloth (``radius`` + 1 working pixels), where the linear fit may still leak a
        few hundredths onto belt that a blended recolor would tint, and without specks smaller
        than two working pixels."""
        return self.refined(self.probability(photo), photo)

    def refined(self, probability: np.ndarray, photo: np.ndarray) -> np.ndarray:
        """:meth:`mask` from the probability :meth:`probability` gave for ``photo``."""
        soft = stretch(guided_upsample(probability, photo, self.radius, self.eps), self.band)
        soft = np.where(self.reach(probability, photo.shape[:2]), soft, np.float32(0.0))
        # smaller than two pixels of the working grid: no cloth the network could have seen
        working_pixel = photo.shape[0] * photo.shape[1] / (self.res[0] * self.res[1])
        return drop_specks(soft, max(2, round(2 * working_pixel)))

    def reach(self, probability: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Where the refined mask may be non-zero at ``size`` = (height, width): within the
        filter's reach of the predicted cloth."""
        near = ndimage.binary_dilation(probability >= 0.5, iterations=self.radius + 1)
        height, width = size
        return np.asarray(Image.fromarray(near).resize((width, height), Image.Resampling.NEAREST))

    def has_cloth(self, mask: np.ndarray) -> bool:
        return float((mask >= 0.5).mean()) >= self.min_cloth_share


def load_segmenter(path: str | Path | None = None) -> Segmenter:
    """The segmenter exported in ``path``, or the shipped one."""
    return Segmenter(DEFAULT_SEGMENTER if path is None else path)
