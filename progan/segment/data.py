"""The segmenter's training data: photos and masks shrunk to the working resolution once, and
the augmentations a real camera's photos vary by, drawn per image from the seed and the step.

Masks are shrunk by area, so a working-resolution pixel on a cloth edge holds the share of it
that is cloth: the network learns soft edges, which the guided upsampling then sharpens. The
augmentations: zoom and small rotations (the camera's distance and mounting), brightness,
contrast and white balance (the lamps), blur (focus, motion on the belt) and JPEG at a random
quality (the camera's compression). Each image's draw is a function of ``(seed, step, slot)``,
so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from config import SegmenterConfig
from progan.masks import read_mask, read_photo
from progan.parallel import parallel_map


@dataclass(frozen=True)
class MaskedPhotos:
    """Photos (N×h×w×3 uint8) and their cloth shares (N×h×w float32 in [0, 1])."""

    photos: np.ndarray
    masks: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.photos)

    def split(self, held_out: int) -> tuple[MaskedPhotos, MaskedPhotos]:
        """The first photos to train on and the last ``held_out`` to measure on."""
        cut = len(self) - held_out
        return (
            MaskedPhotos(self.photos[:cut], self.masks[:cut], self.names[:cut]),
            MaskedPhotos(self.photos[cut:], self.masks[cut:], self.names[cut:]),
        )


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An H×W×3 uint8 photo or H×W uint8 mask, area-averaged to ``size`` = (height, width);
    photos stay uint8, masks become float32 shares."""
    height, width = size
    if image.ndim == 2:
        small = Image.fromarray(image).convert("F").resize((width, height), Image.Resampling.BOX)
        return np.asarray(small, np.float32) / 255.0
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BOX))


def _shrink_pair(pair: tuple[Path, Path], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    photo_path, mask_path = pair
    return shrink(read_photo(photo_path), size), shrink(read_mask(mask_path), size)


def load_pairs(
    pairs: list[tuple[Path, Path]], size: tuple[int, int], workers: int | None = None
) -> MaskedPhotos:
    """Every pair read and shrunk to ``size`` on every core."""
    shrunk = parallel_map(functools.partial(_shrink_pair, size=size), pairs, workers, "shrink")
    return MaskedPhotos(
        np.stack([photo for photo, _ in shrunk]),
        np.stack([mask for _, mask in shrunk]),
        tuple(photo.stem for photo, _ in pairs),
    )


def augment(
    photo: np.ndarray, mask: np.ndarray, rng: np.random.Generator, cfg: SegmenterConfig
) -> tuple[np.ndarray, np.ndarray]:
    """One random variation of a photo (h×w×3 uint8) and its mask (h×w float32)."""
    height, width = mask.shape
    zoom = np.exp(rng.uniform(-np.log(cfg.max_zoom), np.log(cfg.max_zoom)))
    angle = np.deg2rad(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg))
    flip = -1.0 if rng.random() < 0.5 else 1.0
    shift = rng.uniform(-0.1, 0.1, 2) * (height, width)
    # output pixel → input pixel: rotate and scale about the center, then shift
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    matrix = np.array([[cos, -sin * flip], [sin, cos * flip]])
    center = np.array([(height - 1) / 2, (width - 1) / 2])
    offset = center + shift - matrix @ center

    def warp(channel: np.ndarray) -> np.ndarray:
        return ndimage.affine_transform(channel, matrix, offset, order=1, mode="reflect")

    image = np.stack([warp(photo[..., c].astype(np.float32)) for c in range(3)], axis=-1)
    mask = np.clip(warp(mask), 0.0, 1.0)
    gains = rng.uniform(1 - cfg.white_balance, 1 + cfg.white_balance, 3)
    brightness = rng.uniform(*cfg.brightness)
    contrast = rng.uniform(*cfg.contrast)
    mean = image.mean()
    image = ((image - mean) * contrast + mean) * brightness * gains
    if rng.random() < cfg.blur_share:
        sigma = rng.uniform(0.3, cfg.max_blur_sigma)
        image = ndimage.gaussian_filter(image, (sigma, sigma, 0))
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    if rng.random() < cfg.jpeg_share:
        buffer = io.BytesIO()
        quality = int(rng.integers(cfg.min_jpeg_quality, 96))
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        image = np.asarray(Image.open(buffer).convert("RGB"))
    return image, mask.astype(np.float32)


def training_batch(data: MaskedPhotos, step: int, cfg: SegmenterConfig) -> dict[str, np.ndarray]:
    """The batch of ``step``: the photos of this point of the seed's shuffled epochs, each
    augmented by its own draw. Photos in [-1, 1], masks in [0, 1] (N×h×w×1)."""
    per_epoch = max(1, len(data) // cfg.batch_size)
    epoch, position = divmod(step, per_epoch)
    order = np.random.default_rng([cfg.seed, 0, epoch]).permutation(len(data))
    picks = order[position * cfg.batch_size : (position + 1) * cfg.batch_size]
    photos, masks = [], []
    for slot, index in enumerate(picks):
        rng = np.random.default_rng([cfg.seed, 1, step, slot])
        photo, mask = augment(data.photos[index], data.masks[index], rng, cfg)
        photos.append(photo)
        masks.append(mask)
    return {
        "photos": np.stack(photos).astype(np.float32) / 127.5 - 1.0,
        "masks": np.stack(masks)[..., None],
    }
