"""A stand-in for :func:`progan.load_generator` whose colors are a known function of the latent.

It renders a grey belt with one item in the middle whose RGB color is ``128 + GAIN·z[:3]``, and
ignores the rest of the latent. Because the color is linear in the latent, the right prototypes
and shifts can be worked out by hand, so the tests check the color math rather than merely run it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from progan.errors import ProganError
from progan.export import PROTOTYPES_JSON
from progan.resolution import parse_res

GAIN = 100.0
BELT_GREY = 110


class LinearColorGenerator:
    """Duck-typed to the generator contract: path, resolutions, latent_dim, channels, metadata,
    prototypes (read from ``prototypes.json`` at construction, like a loaded export) and render."""

    def __init__(self, path: str | Path, latent_dim: int = 8) -> None:
        self.path = Path(path)
        self.resolutions = ["5x3", "10x6", "20x12", "40x24"]
        self.latent_dim = latent_dim
        self.channels = 3
        self.metadata: dict[str, Any] = {"dataset": "stub"}
        self.classes: list[str] = []
        file = self.path / PROTOTYPES_JSON
        self.prototypes = json.loads(file.read_text()) if file.is_file() else None
        self.rendered = 0

    @staticmethod
    def item_box(height: int, width: int) -> tuple[slice, slice]:
        """The item covers the middle half of each side, a quarter of the image."""
        return slice(height // 4, height - height // 4), slice(width // 4, width - width // 4)

    def item_colors(self, latents: np.ndarray) -> np.ndarray:
        return np.clip(np.round(128 + GAIN * latents[:, :3]), 0, 255).astype(np.uint8)

    def render(self, latents: np.ndarray, res: str, labels: Any = None) -> np.ndarray:
        if labels is not None:
            raise ProganError("the stub is unconditional: it takes no labels")
        latents = np.asarray(latents, dtype=np.float32)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ProganError(f"latents must be N×{self.latent_dim}, got {latents.shape}")
        if res not in self.resolutions:
            raise ProganError(f"resolution {res!r} is not available")
        height, width = parse_res(res)
        images = np.full((len(latents), height, width, 3), BELT_GREY, np.uint8)
        rows, cols = self.item_box(height, width)
        images[:, rows, cols] = self.item_colors(latents)[:, None, None, :]
        self.rendered += len(latents)
        return images


class ConditionalColorGenerator(LinearColorGenerator):
    """A conditional stand-in: the class label paints the item (original: the latent's color),
    the latent places it, so one seed keeps its shape in every color."""

    # Light enough that every item stands out from the belt in luminance as well.
    CLASS_COLORS = {"blue": (120, 120, 250), "green": (120, 250, 120), "red": (250, 120, 120)}

    def __init__(self, path: str | Path, latent_dim: int = 8) -> None:
        super().__init__(path, latent_dim)
        self.classes = ["blue", "green", "original", "red", "white"]

    def render(self, latents: np.ndarray, res: str, labels: Any = None) -> np.ndarray:
        if labels is None:
            raise ProganError("the conditional stub needs labels")
        latents = np.asarray(latents, dtype=np.float32)
        names = [labels] * len(latents) if isinstance(labels, str) else list(labels)
        images = LinearColorGenerator.render(self, latents, res)
        height, width = parse_res(res)
        for image, z, name in zip(images, latents, names, strict=True):
            top = int(np.clip(height // 4 + round(z[3] * height / 8), 0, height // 2))
            image[:] = BELT_GREY
            color = self.CLASS_COLORS.get(name, (235, 235, 235) if name == "white" else None)
            image[top : top + height // 2, width // 4 : width - width // 4] = (
                color if color is not None else self.item_colors(z[None])[0]
            )
        return images
