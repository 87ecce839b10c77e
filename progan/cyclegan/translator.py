"""A trained translator (an export of :mod:`.trainer`): photos in, recolored photos out.

What ``python -m progan translate`` and the studio's recolor page call. A photo of any size is
padded to the translator's aspect ratio and area-resized to its resolution, as its training
photos were; the answer is at that resolution.
"""

from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from config import DEFAULT_MODEL_DIR
from progan.data import fit_to
from progan.errors import ProganError
from progan.resolution import Shape

TRANSLATOR_JSON = "translator.json"
WEIGHTS = "translator.npz"
# The shipped translator, beside the shipped generators.
DEFAULT_TRANSLATOR = DEFAULT_MODEL_DIR / "recolor"
CHUNK = 16


def resolve_translator_dir(path: str | Path | None) -> Path:
    """A run folder (``RUN/export``), an export folder, or None for the shipped translator."""
    folder = Path(path) if path is not None else DEFAULT_TRANSLATOR
    for candidate in (folder, folder / "export"):
        if (candidate / TRANSLATOR_JSON).is_file():
            return candidate
    if path is None:
        raise ProganError(
            f"no shipped translator in {folder}; train one (python -m progan.cyclegan train) "
            "and pass --model RUN"
        )
    raise ProganError(
        f"{folder} is not a translator: expected {TRANSLATOR_JSON} in it or in its export/"
    )


class Translator:
    """The A→B generator of an export; ``translate`` may be called from several threads."""

    def __init__(self, folder: Path) -> None:
        from progan.cyclegan.networks import resnet_generator

        self.path = folder
        try:
            self.info: dict[str, Any] = json.loads((folder / TRANSLATOR_JSON).read_text())
            with np.load(folder / WEIGHTS) as archive:
                arrays = dict(archive)
            width, height = self.info["res"]
            self.res: Shape = (int(height), int(width))
            self.target: str = self.info["to"]
            self.network = resnet_generator(
                int(self.info["filters"]), int(self.info["blocks"]), "g_ab"
            )
            for variable in self.network.weights:
                key = f"g_ab/{variable.path}"
                if key not in arrays:
                    raise ProganError(f"translator in {folder} lacks the weight {key}")
                variable.assign(arrays[key].astype(np.float32))
        # a cut-off .npz is a BadZipFile; weights of another shape are a ValueError
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
            raise ProganError(f"cannot read the translator in {folder}: {err}") from err
        self._lock = threading.Lock()

    def prepare(self, photo: np.ndarray) -> np.ndarray:
        """A photo (H×W×3 uint8, any size) as the translator sees it."""
        return fit_to(np.asarray(photo, np.uint8), self.res)

    def translate(self, photos: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """Photos (each H×W×3 uint8, any size) -> N×h×w×3 uint8 at the translator's resolution."""
        prepared = np.stack([self.prepare(photo) for photo in photos]).astype(np.float32)
        outputs = []
        with self._lock:
            for start in range(0, len(prepared), CHUNK):
                batch = prepared[start : start + CHUNK] / 127.5 - 1.0
                outputs.append(np.asarray(self.network(batch, training=False)))
        images = np.concatenate(outputs)
        return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


_loaded: dict[Path, tuple[int, Translator]] = {}
_loaded_lock = threading.Lock()


def load_translator(path: str | Path | None = None) -> Translator:
    """The translator at ``path`` (None: the shipped one), loaded once per process and again
    when its weights change on disk."""
    folder = resolve_translator_dir(path).resolve()
    stamp = (folder / WEIGHTS).stat().st_mtime_ns if (folder / WEIGHTS).exists() else 0
    with _loaded_lock:
        cached = _loaded.get(folder)
        if cached is None or cached[0] != stamp:
            _loaded[folder] = (stamp, Translator(folder))
        return _loaded[folder][1]
