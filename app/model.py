"""The models a studio process serves, and the identity their cached responses are tied to.

A :class:`ModelRegistry` holds every served model by name (``?model=NAME`` picks one, the first
is the default). Each network is loaded once, when the application is created, and shared by
every request (``Generator.render`` is thread safe). Its prototypes, however, are re-read whenever
``prototypes.json`` changes on disk: the studio tells a user to run
``python -m progan prototypes`` when colors are missing, and the colors should then work on the
next page load rather than after a restart.

Every response the studio caches forever carries an ETag derived from a :class:`Snapshot`'s
identity: a hash of the exported files and of the libraries that turn a latent into bytes. A new
export, or an upgrade that could change a pixel or an encoder's output, changes every tag.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from config import DEFAULT_MODEL_DIR
from progan import colors, latent
from progan.errors import ProganError
from progan.export import MODEL_JSON, PROTOTYPES_JSON, WEIGHTS, load_generator
from progan.run_folder import LATEST

_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Snapshot:
    """What one request renders with: the network and the prototypes current when it started.

    ``prototypes`` is None when colors other than ``original`` cannot be rendered, and
    ``prototypes_error`` then says why and what to run.
    """

    generator: Any
    model_id: str
    prototypes: colors.Prototypes | None
    prototypes_id: str
    prototypes_error: str | None

    @property
    def version(self) -> str:
        """Changes whenever any image could: new weights, libraries or prototypes.

        The pages append it to image URLs (``?v=``), which are then cached for a year without
        revalidation: a browser fetches a new model's images instead of showing the old ones.
        """
        return hashlib.sha256(f"{self.model_id}:{self.prototypes_id}".encode()).hexdigest()[:12]


class ModelHolder:
    """Loads the model at ``path`` (None: the shipped model) and hands out consistent snapshots."""

    def __init__(self, path: str | Path | None, name: str | None = None) -> None:
        self.generator = load_generator(path)
        self.folder = Path(self.generator.path)
        self.name = name or default_name(self.generator, self.folder)
        self.model_id = _digest(
            [self.folder / MODEL_JSON, self.folder / WEIGHTS], _library_versions()
        )
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._snapshot: Snapshot | None = None

    def current(self) -> Snapshot:
        """The snapshot to render with, re-reading the prototypes if their file changed.

        One ``stat`` per request; the file is read only when its inode, size or time differ,
        which ``save_prototypes``'s atomic rename always changes.
        """
        stamp = _stamp(self.folder / PROTOTYPES_JSON)
        with self._lock:
            if self._snapshot is None or stamp != self._stamp:
                self._snapshot = self._read_prototypes()
                self._stamp = stamp
            return self._snapshot

    def _read_prototypes(self) -> Snapshot:
        path = self.folder / PROTOTYPES_JSON
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = None
        prototypes, error = None, None
        try:
            # colors.load_prototypes checks what it reads against the model and words the
            # error a user sees (including the command that computes them).
            self.generator.prototypes = None if raw is None else json.loads(raw)
            prototypes = colors.load_prototypes(self.generator)
        except (ProganError, ValueError) as err:
            error = str(err)
        return Snapshot(
            generator=self.generator,
            model_id=self.model_id,
            prototypes=prototypes,
            prototypes_id="" if raw is None else hashlib.sha256(raw).hexdigest(),
            prototypes_error=error,
        )

    def warm_up(self) -> None:
        """Trace the render function of every resolution now, not on a visitor's first click."""
        latents = latent.seed_latents([0], self.generator.latent_dim)
        for res in self.generator.resolutions:
            self.generator.render(latents, res, labels=latent.default_label(self.generator))


def default_name(g: Any, folder: Path) -> str:
    """``name`` from model.json; else the run's name for ``RUN/export`` (``RUN-latest`` for
    ``RUN/latest``) or the export folder's own name; for the shipped folder, whose name says
    nothing, the data set and resolution."""
    explicit = g.metadata.get("name")
    if explicit:
        return str(explicit)
    if folder.name == LATEST:
        return f"{folder.parent.name}-{LATEST}"
    owner = folder.parent if folder.name == "export" else folder
    if owner.resolve() == DEFAULT_MODEL_DIR.resolve():
        return f"{g.metadata.get('dataset', 'model')}-{g.resolutions[-1]}"
    return owner.name


class UnknownModel(ProganError):
    """``?model=`` names no served model (a 404 that lists the served ones)."""

    status = 404


class ModelRegistry:
    """Every model the studio serves, by unique name; the first one given is the default."""

    def __init__(self, paths: list[str | Path | None]) -> None:
        self.holders: dict[str, ModelHolder] = {}
        folders: set[Path] = set()
        for path in paths:
            holder = ModelHolder(path)
            if holder.folder.resolve() in folders:
                continue
            folders.add(holder.folder.resolve())
            name, n = holder.name, 2
            while name in self.holders:
                name, n = f"{holder.name}-{n}", n + 1
            holder.name = name
            self.holders[name] = holder
        self.default = next(iter(self.holders.values()))

    def get(self, name: str | None) -> ModelHolder:
        """The model called ``name``; None or empty: the default one."""
        if not name:
            return self.default
        if name not in self.holders:
            raise UnknownModel(
                f"model {name[:60]!r} is not served here; choose one of {', '.join(self.holders)}"
            )
        return self.holders[name]

    def warm_up(self) -> None:
        for holder in self.holders.values():
            holder.warm_up()


class TranslatorHolder:
    """The recolor page's CycleGAN translator, loaded on first use and again when its weights
    change. The studio runs without one: the page then says how to train one."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = path

    def get(self) -> Any:
        from progan.cyclegan.translator import load_translator

        return load_translator(self.path)

    def describe(self) -> dict[str, Any]:
        try:
            translator = self.get()
        except ProganError as err:
            return {"available": False, "message": str(err)}
        height, width = translator.res
        return {
            "available": True,
            "to": translator.target,
            "res": f"{width}x{height}",
            "iterations": translator.info.get("iterations"),
        }


def shipped_models(root: Path = DEFAULT_MODEL_DIR) -> list[Path]:
    """Every export under ``checkpoints/``: the default model, then each subfolder with one."""
    if not root.is_dir():
        return []
    found = [root] if (root / "export" / MODEL_JSON).is_file() else []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "export"):
        if (folder / MODEL_JSON).is_file() or (folder / "export" / MODEL_JSON).is_file():
            found.append(folder)
    return found


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _digest(paths: list[Path], extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def _library_versions() -> str:
    """Everything besides the export that decides a response's bytes."""
    import importlib

    import keras
    import numpy
    import PIL

    engine = importlib.import_module(keras.backend.backend())
    versions = [f"{module.__name__}={module.__version__}" for module in (numpy, engine, keras, PIL)]
    return ";".join([latent.SEED_RECIPE, latent.GIF_RECIPE, *versions])


class SegmenterHolder:
    """The recolor page's cloth segmenter, loaded once on first use, and the masks it predicted
    for the last few photos (by their bytes' hash), so that asking for another color of the
    same photo costs a recolor, not a second prediction."""

    def __init__(self, path: str | Path | None, remembered: int = 8) -> None:
        self.path = path
        self.remembered = remembered
        self._segmenter: Any = None
        self._masks: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._segmenter is None:
                from progan.segment.segmenter import load_segmenter

                self._segmenter = load_segmenter(self.path)
            return self._segmenter

    def mask(self, key: str, photo: Callable[[], np.ndarray]) -> np.ndarray:
        """The soft mask of the photo whose bytes hash to ``key`` (``photo()`` decodes it)."""
        with self._lock:
            if key in self._masks:
                self._masks.move_to_end(key)
                return self._masks[key]
        mask = self.get().mask(photo())
        with self._lock:
            self._masks[key] = mask
            while len(self._masks) > self.remembered:
                self._masks.popitem(last=False)
        return mask

    def describe(self) -> dict[str, Any]:
        try:
            segmenter = self.get()
        except ProganError as err:
            return {"available": False, "message": str(err)}
        height, width = segmenter.res
        return {
            "available": True,
            "res": f"{width}x{height}",
            "held_out_iou": segmenter.info.get("held_out_iou"),
        }
