"""The one model a studio process serves, and the identity its cached responses are tied to.

The network is loaded once, when the application is created, and shared by every request
(``Generator.render`` is thread safe). Its prototypes, however, are re-read whenever
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progan import colors, latent
from progan.errors import ProganError
from progan.export import MODEL_JSON, PROTOTYPES_JSON, WEIGHTS, load_generator

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

    def __init__(self, path: str | Path | None) -> None:
        self.generator = load_generator(path)
        self.folder = Path(self.generator.path)
        self.model_id = _digest(
            [self.folder / MODEL_JSON, self.folder / WEIGHTS], _library_versions()
        )
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._snapshot: Snapshot | None = None

    @property
    def name(self) -> str:
        """The run's name for ``RUN/export``, else the export folder's own name."""
        explicit = self.generator.metadata.get("name")
        if explicit:
            return str(explicit)
        folder = self.folder.parent if self.folder.name == "export" else self.folder
        return folder.name

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
    import imageio
    import keras
    import numpy
    import PIL
    import tensorflow

    versions = [
        f"{module.__name__}={module.__version__}"
        for module in (numpy, tensorflow, keras, PIL, imageio)
    ]
    return ";".join([latent.SEED_RECIPE, *versions])
