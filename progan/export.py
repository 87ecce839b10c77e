"""An export is what the rest of the project loads: the EMA generator's weights plus one JSON file.

Weights are a plain ``.npz`` of named arrays rather than a Keras archive, so that an export is
small (float16 when asked), readable without TensorFlow, and independent of layer auto-naming.
Lower resolutions are rendered by area-averaging the top stage's output: a stage's own toRGB
stops training once the network grows past it, so its output goes stale, while the downsampled
top output stays sharp and shows the same item at every size.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from config import DEFAULT_MODEL_DIR, NetworkConfig
from progan import files
from progan.errors import ProganError
from progan.resolution import Shape, format_res, parse_res, stage_shapes

MODEL_JSON = "model.json"
WEIGHTS = "generator.npz"
# The live G and the critic D at the export's phase end, so that ``train.py --from EXPORT``
# carries the run on anywhere; the EMA G is generator.npz itself. Absent in render-only exports.
TRAINING_STATE = "training_state.npz"
PROTOTYPES_JSON = "prototypes.json"
# What ``python -m progan evaluate`` measured of the model's colors (accuracy per color, ...).
COLORS_JSON = "colors.json"
EXPORT_FORMAT = 1
# Keys of model.json that write_export sets itself; the rest is the caller's information.
GENERATED_KEYS = ("format", "network", "stages", "resolutions", "created", "weights_dtype")
RENDER_CHUNK = 64


def to_uint8(images) -> np.ndarray:
    """Network output in [-1, 1] -> displayable uint8: the one conversion renders and grids use."""
    return (np.clip(np.asarray(images, np.float32), -1, 1) * 127.5 + 128.0).astype(np.uint8)


def network_to_json(net: NetworkConfig) -> dict[str, Any]:
    return {
        "base": format_res(net.base),
        "latent_dim": net.latent_dim,
        "channels": list(net.channels),
        "mbstd_group": net.mbstd_group,
        "leaky_slope": net.leaky_slope,
        "classes": list(net.classes),
        "label_entry": net.label_entry,
        "noise_inputs": net.noise_inputs,
        "image_channels": net.image_channels,
    }


def network_from_json(data: dict[str, Any]) -> NetworkConfig:
    return NetworkConfig(
        base=parse_res(data["base"]),
        latent_dim=int(data["latent_dim"]),
        channels=tuple(int(c) for c in data["channels"]),
        mbstd_group=int(data["mbstd_group"]),
        leaky_slope=float(data["leaky_slope"]),
        # Exports of unconditional models written before labels existed have no "classes".
        classes=tuple(str(name) for name in data.get("classes", ())),
        label_entry=str(data.get("label_entry", "latent")),
        noise_inputs=bool(data.get("noise_inputs", False)),
        # Exports written before grey models existed are color.
        image_channels=int(data.get("image_channels", 3)),
    )


def write_export(
    folder: str | Path,
    generator,
    stages: int,
    info: dict[str, Any] | None = None,
    dtype: str = "float32",
    state: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write ``generator``'s first ``stages`` stages to ``folder``, replacing it atomically.

    The files go to a sibling temporary folder that is renamed over the old export, so a reader
    (or a crash) never sees a half-written export. Whatever else the old folder held goes with
    it: prototypes belong to the weights they were computed for. ``state`` (arrays by name, see
    :data:`TRAINING_STATE`) is stored in ``dtype`` too.
    """
    folder = Path(folder)
    shapes = stage_shapes(generator.net.base, stages)
    weights = {
        v.path: np.asarray(v.numpy(), dtype=dtype) for v in generator_weights(generator, stages)
    }
    meta = {
        "format": EXPORT_FORMAT,
        "network": network_to_json(generator.net),
        "stages": stages,
        "resolutions": [format_res(s) for s in shapes],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "weights_dtype": dtype,
        **(info or {}),
    }
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.savez(tmp / WEIGHTS, **weights)
    if state is not None:
        np.savez(tmp / TRAINING_STATE, **{k: np.asarray(v, dtype) for k, v in state.items()})
    (tmp / MODEL_JSON).write_text(json.dumps(meta, indent=2) + "\n")
    files.sync_tree(tmp)  # whole on the disk before it takes the export's name
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    files.sync(folder.parent)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def generator_weights(generator, stages: int) -> list:
    """The variables rendering stage ``stages - 1`` needs: stem, blocks and the top toRGB."""
    layers = [generator.stem, *generator.blocks[: stages - 1], generator.to_rgb[stages - 1]]
    return [v for layer in layers for v in layer.weights]


def copy_export(
    source: str | Path | None,
    folder: str | Path,
    dtype: str = "float32",
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the export at ``source`` (a run or export folder) anew to ``folder``, e.g. as
    float16 for shipping, with ``extra`` keys (a ``name``) added to its model.json; its training
    state comes along, and the prototypes and color figures measured on it do when the weights
    stay as they were measured (the same dtype)."""
    g = load_generator(source)
    info = {k: v for k, v in g.metadata.items() if k not in GENERATED_KEYS} | (extra or {})
    state = read_training_state(g.path) if (g.path / TRAINING_STATE).is_file() else None
    out = write_export(folder, g.network, g.stages, info, dtype, state)
    if dtype == g.metadata.get("weights_dtype"):
        for measured in (PROTOTYPES_JSON, COLORS_JSON):
            if (g.path / measured).is_file():
                files.write_bytes(out / measured, (g.path / measured).read_bytes())
    return out


def training_state_path(folder: str | Path) -> Path:
    """An export's :data:`TRAINING_STATE`, or a ProganError saying it has none."""
    path = Path(folder) / TRAINING_STATE
    if not path.is_file():
        raise ProganError(
            f"{folder} has no {TRAINING_STATE}: it is a render-only export; continue from a run "
            "folder's export/ or from an export written by this version"
        )
    return path


def read_training_state(folder: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an export's :data:`TRAINING_STATE`."""
    path = training_state_path(folder)
    try:
        with np.load(path) as archive:
            return dict(archive)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ProganError(f"cannot read {path}: {err}") from err


def write_random_export(
    path: str | Path, network: NetworkConfig, stages: int, seed: int = 0
) -> Path:
    """An export with random weights: what tests and a model-less studio render from."""
    import keras

    from progan.generator import Generator

    keras.utils.set_random_seed(seed)
    generator = Generator(network, stages)
    return write_export(path, generator, stages, {"dataset": "random", "images_shown": 0})


def resolve_export_dir(path: str | Path | None) -> Path:
    """A run folder (``RUN/export``), an export folder, or None for the shipped model.

    ``~`` is expanded, so a path written as in the shell works from Python too.
    """
    folder = Path(path).expanduser() if path is not None else DEFAULT_MODEL_DIR
    if (folder / MODEL_JSON).is_file():
        return folder
    if (folder / "export" / MODEL_JSON).is_file():
        return folder / "export"
    if path is None:
        raise ProganError(
            f"no shipped model in {folder}; train one (python train.py) and pass --model RUN"
        )
    raise ProganError(f"{folder} is not a model: expected {MODEL_JSON} in it or in its export/")


class LoadedGenerator:
    """A loaded export: renders uint8 images for float32 latents at any resolution it reached.

    One per process is enough; ``render`` may be called from several threads at once (the
    compiled function is made under a lock, running it is thread safe). It renders under the
    Keras backend of the process: a ``tf.function`` under TensorFlow, ``jax.jit`` under JAX (so
    a machine without TensorFlow serves the studio too).
    """

    def __init__(self, folder: Path) -> None:
        from progan.generator import Generator

        self.path = folder
        try:
            self.metadata: dict[str, Any] = json.loads((folder / MODEL_JSON).read_text())
            self.net = network_from_json(self.metadata["network"])
            stages = int(self.metadata["stages"])
            with np.load(folder / WEIGHTS) as archive:
                arrays = dict(archive)
            prototypes = folder / PROTOTYPES_JSON
            self.prototypes: dict[str, Any] | None = (
                json.loads(prototypes.read_text()) if prototypes.is_file() else None
            )
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
            raise ProganError(f"cannot read the model in {folder}: {err}") from err
        self.network = Generator(self.net, stages)
        variables = generator_weights(self.network, stages)
        missing = [v.path for v in variables if v.path not in arrays]
        if missing:
            raise ProganError(f"model in {folder} lacks weights {missing[:3]}")
        for variable in variables:
            saved = arrays[variable.path]
            if saved.shape != tuple(variable.shape):
                raise ProganError(
                    f"model in {folder}: {variable.path} is {saved.shape}, its model.json's "
                    f"network needs {tuple(variable.shape)}"
                )
            variable.assign(saved.astype(np.float32))
        self.stages = stages
        self.shapes: list[Shape] = stage_shapes(self.net.base, stages)
        self.resolutions = [format_res(s) for s in self.shapes]
        self.latent_dim = self.net.latent_dim
        # Class names of a conditional model, in label-index order; empty when unconditional.
        self.classes: list[str] = list(self.net.classes)
        # 1 for a grey model (renders are N×H×W×1), 3 for a color one.
        self.channels = self.net.image_channels
        self._lock = threading.Lock()
        self._render_top = None

    def shape_of(self, res: str) -> Shape:
        if res not in self.resolutions:
            raise ProganError(
                f"resolution {res!r} is not available; choose one of {', '.join(self.resolutions)}"
            )
        return self.shapes[self.resolutions.index(res)]

    def _top(self):
        """The one traced function: the top stage's images, clipped to [-1, 1].

        It always takes labels; an unconditional model is called without them.
        """
        with self._lock:
            if self._render_top is None:
                from keras import ops

                from progan import backend

                top = self.stages - 1
                conditional = bool(self.classes)

                def render_top(latents, labels):
                    images = self.network(
                        latents, stage=top, labels=labels if conditional else None
                    )
                    return ops.clip(ops.cast(images, "float32"), -1.0, 1.0)

                if backend.name() == "jax":
                    import jax

                    compiled = jax.jit(render_top)

                    def padded(latents, labels):
                        """jit compiles once per shape: pad to a power of two, keep n."""
                        n = len(latents)
                        extra = (1 << (n - 1).bit_length()) - n
                        latents = np.pad(latents, ((0, extra), (0, 0)))
                        return np.asarray(compiled(latents, np.pad(labels, (0, extra))))[:n]

                    self._render_top = padded
                else:
                    import tensorflow as tf

                    self._render_top = tf.function(
                        render_top,
                        input_signature=[
                            tf.TensorSpec([None, self.latent_dim], tf.float32),
                            tf.TensorSpec([None], tf.int32),
                        ],
                    )
            return self._render_top

    def label_indices(self, labels: Any, count: int) -> np.ndarray:
        """``labels`` (class names or indices, one per latent, or one for all) as indices.

        An unconditional model takes no labels at all, and says so.
        """
        if not self.classes:
            raise ProganError(f"the model in {self.path} is unconditional: it takes no labels")
        given = [labels] if isinstance(labels, (str, int, np.integer)) else list(labels)
        if len(given) == 1:
            given = given * count
        if len(given) != count:
            raise ProganError(f"give one label per latent: {len(given)} labels, {count} latents")
        indices = []
        for label in given:
            if isinstance(label, str) and label in self.classes:
                indices.append(self.classes.index(label))
            elif isinstance(label, (int, np.integer)) and 0 <= label < len(self.classes):
                indices.append(int(label))
            else:
                raise ProganError(
                    f"label {label!r} is not a class of this model; choose one of "
                    f"{', '.join(self.classes)} (or its index 0-{len(self.classes) - 1})"
                )
        return np.array(indices, dtype=np.int32)

    def render(self, latents: np.ndarray, res: str, labels: Any = None) -> np.ndarray:
        """N×latent_dim float32 -> N×H×W×C uint8 at ``res`` (``WIDTHxHEIGHT``), C = ``channels``.

        A conditional model needs ``labels``: a class name or index for all, or one per latent.
        """
        latents = np.asarray(latents, dtype=np.float32)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ProganError(f"latents must be N×{self.latent_dim}, got {latents.shape}")
        height, width = self.shape_of(res)
        if labels is not None:
            indices = self.label_indices(labels, len(latents))
        elif self.classes:
            raise ProganError(
                f"the model in {self.path} is conditional: give labels ({', '.join(self.classes)})"
            )
        else:
            indices = np.zeros(len(latents), np.int32)
        if len(latents) == 0:
            return np.zeros((0, height, width, self.channels), np.uint8)
        render_top = self._top()
        images = np.concatenate(
            [
                np.asarray(render_top(latents[i : i + RENDER_CHUNK], indices[i : i + RENDER_CHUNK]))
                for i in range(0, len(latents), RENDER_CHUNK)
            ]
        )
        factor = self.shapes[-1][0] // height
        if factor > 1:  # area average down to the asked stage
            shape = (len(images), height, factor, width, factor, self.channels)
            images = images.reshape(shape).mean(axis=(2, 4))
        return to_uint8(images)


_loaded: dict[Path, tuple[tuple[int, ...], LoadedGenerator]] = {}
_loaded_lock = threading.Lock()


def load_generator(path: str | Path | None = None) -> LoadedGenerator:
    """Load the export at ``path`` (None: the shipped default model), once per process.

    The files' modification times are checked on every call, so an export rewritten by a
    trainer or given new prototypes is loaded afresh (replacing the stale one), not served stale.
    """
    folder = resolve_export_dir(path).resolve()
    stamp = tuple(_mtime(folder / name) for name in (MODEL_JSON, WEIGHTS, PROTOTYPES_JSON))
    with _loaded_lock:
        cached = _loaded.get(folder)
        if cached is None or cached[0] != stamp:
            _loaded[folder] = (stamp, LoadedGenerator(folder))
        return _loaded[folder][1]


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else 0
