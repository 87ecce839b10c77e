"""Which kinds of item a laundry image shows, by a classifier trained on the data set's photos.

"A person can tell a towel from a shirt" needs a number that looks at whole items: SWD compares
7×7 patches per pyramid level and scores smooth blobs with a cloth texture well. The procedural
laundry set knows what every photo shows (its manifest), so a small CNN learns the five kinds
from the reals, and then answers two questions about generated images: are its features of them
distributed like those of reals (Fréchet distance, beside the reals-vs-reals floor), and does it
see kinds in them as surely as in reals (certainty)? It is trained once per data set, resolution
and setting, and kept beside the data set's stage cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from config import KIND_CLASSIFIER, KindClassifierConfig
from progan import files
from progan.data import StageCache, halve
from progan.datasets.laundry.cloth import KINDS
from progan.errors import ProganError
from progan.inception import fid
from progan.progress import progress_bar
from progan.resolution import Shape, format_res
from progan.sources import FolderSource, ImageSource

MANIFEST = "manifest.json"
BATCH = 256


def kinds_of_source(source: ImageSource) -> np.ndarray | None:
    """One row per image of ``source`` and one column per kind (:data:`KINDS`): 1 where the
    photo shows that kind. From the laundry set's manifest, which the recolored set's copies
    share through their file names; None for a source that is neither."""
    if not isinstance(source, FolderSource):
        return None
    # --data names the set's images/ folder (as the named sets do) or the set's own folder
    folder = next((f for f in (source.root, source.root.parent) if (f / MANIFEST).is_file()), None)
    if folder is None:
        return None
    manifest = _read_json(folder / MANIFEST)
    settings = _settings_of(manifest)
    if settings.get("dataset") != "laundry":  # the recolored set names its photos' settings
        photos, base = settings.get("laundry"), folder.parent / "laundry"
        if not isinstance(photos, dict) or not (base / MANIFEST).is_file():
            return None
        manifest = _read_json(base / MANIFEST)
        if _settings_of(manifest) != photos:
            raise ProganError(
                f"{folder} was recolored from other laundry photos than those in {base}; "
                "rebuild it (python -m progan.datasets laundry-recolored)"
            )
    try:
        shown = {
            entry["name"]: [KINDS.index(item["kind"]) for item in entry["items"]]
            for entry in manifest["images"]
        }
    except (KeyError, TypeError, ValueError) as err:
        raise ProganError(f"the laundry manifest beside {source.root} is damaged ({err})") from None
    rows = np.zeros((len(source.files), len(KINDS)), np.float32)
    for row, path in zip(rows, source.files, strict=True):
        if path.stem not in shown:
            raise ProganError(f"{path} is not in the laundry manifest; rebuild the data set")
        row[shown[path.stem]] = 1.0
    return rows


def _settings_of(manifest: Any) -> dict:
    """A manifest's settings; none for a manifest.json of some other shape (not ours)."""
    settings = manifest.get("settings") if isinstance(manifest, dict) else None
    return settings if isinstance(settings, dict) else {}


def photo_ids(source: FolderSource) -> np.ndarray:
    """Which photo each image is (its file name): a photo and its recolored copies share one, so
    a held-out photo is held out in every color."""
    stems = sorted({path.stem for path in source.files})
    index = {stem: i for i, stem in enumerate(stems)}
    return np.array([index[path.stem] for path in source.files])


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ProganError(f"cannot read {path}: {err}") from err


@dataclass
class KindClassifier:
    """The trained network: ``features`` (its pooled last convolution) and kind probabilities."""

    model: Any
    res: Shape
    held_out_label_accuracy: float
    held_out_photo_accuracy: float

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, probabilities) of uint8 images at ``res`` or any multiple of it by 2^k."""
        while images.shape[1] > self.res[0]:
            images = halve(images)
        features, probabilities = [], []
        for start in range(0, len(images), BATCH):
            batch = np.asarray(images[start : start + BATCH], np.float32) / 127.5 - 1.0
            pooled, logits = self.model(batch, training=False)
            features.append(np.asarray(pooled, np.float64))
            probabilities.append(1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64))))
        return np.concatenate(features), np.concatenate(probabilities)


def build_network(res: Shape, cfg: KindClassifierConfig) -> Any:
    """Two 3×3 convolutions per width (the second strided), global average pooling, one logit
    per kind; flips and shifts in training, without which 9,000 photos are learnt by heart
    (see :class:`config.KindClassifierConfig`)."""
    import keras
    from keras import layers

    inputs = keras.Input((*res, 3))
    x = layers.RandomFlip("horizontal_and_vertical", seed=cfg.seed)(inputs)
    x = layers.RandomTranslation(*cfg.shift, fill_mode="reflect", seed=cfg.seed)(x)
    for width in cfg.channels:
        for stride in (1, 2):
            x = layers.Conv2D(width, 3, strides=stride, padding="same")(x)
            x = layers.LeakyReLU(0.2)(x)
    pooled = layers.GlobalAveragePooling2D()(x)
    logits = layers.Dense(len(KINDS))(layers.Dropout(cfg.dropout, seed=cfg.seed)(pooled))
    return keras.Model(inputs, [pooled, logits])


class ClassifierStopped(ProganError):
    """The classifier's training ended early because its caller asked (nothing was saved)."""


def train_classifier(
    images: np.ndarray,
    kinds: np.ndarray,
    photos: np.ndarray,
    cfg: KindClassifierConfig = KIND_CLASSIFIER,
    should_stop: Callable[[], bool] = lambda: False,
) -> KindClassifier:
    """Train on every photo but one in ``cfg.held_out_every`` and measure on those.

    ``should_stop`` is asked after every batch: a training run's Ctrl-C at a phase end ends the
    classifier's ten minutes there (:class:`ClassifierStopped`) instead of waiting for them."""
    import keras

    keras.utils.set_random_seed(cfg.seed)
    held = photos % cfg.held_out_every == 0
    if held.all() or not held.any():
        raise ProganError(
            f"{len(set(photos))} photos are too few to hold one in {cfg.held_out_every} out"
        )
    res = images.shape[1:3]
    network = build_network(res, cfg)
    trainer = keras.Model(network.input, network.output[1])
    trainer.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    x = np.asarray(images, np.float32) / 127.5 - 1.0
    desc = f"kind classifier, {(~held).sum()} images at {format_res(res)}"

    def stop_if_asked(_batch: int, logs: dict | None = None) -> None:
        trainer.stop_training = trainer.stop_training or should_stop()

    def epoch_done(_epoch: int, logs: dict | None = None) -> None:
        if not trainer.stop_training:  # Keras ends a stopped epoch too
            bar.update(1)

    with progress_bar(total=cfg.epochs, desc=desc, unit="epoch") as bar:
        callback = keras.callbacks.LambdaCallback(
            on_epoch_end=epoch_done, on_train_batch_end=stop_if_asked
        )
        trainer.fit(
            x[~held],
            kinds[~held],
            batch_size=cfg.batch_size,
            epochs=cfg.epochs,
            shuffle=True,
            verbose=0,
            callbacks=[callback],
        )
    if trainer.stop_training:
        raise ClassifierStopped(f"the {desc} stopped after {bar.n} of {cfg.epochs} epochs")
    classifier = KindClassifier(network, res, 0.0, 0.0)
    right = (classifier.predict(images[held])[1] > 0.5) == (kinds[held] > 0.5)
    classifier.held_out_label_accuracy = float(right.mean())
    classifier.held_out_photo_accuracy = float(right.all(axis=1).mean())
    return classifier


def cached_classifier(
    source: FolderSource,
    kinds: np.ndarray,
    cache: StageCache,
    res: Shape,
    cfg: KindClassifierConfig = KIND_CLASSIFIER,
    should_stop: Callable[[], bool] = lambda: False,
) -> KindClassifier:
    """The classifier of this data set at ``res``: loaded from the stage cache's folder, or
    trained on the cached images (about ten minutes on two cores at 80x48, ``should_stop``
    as in :func:`train_classifier`) and saved there."""
    settings = json.dumps(dataclasses.asdict(cfg) | {"res": res}, sort_keys=True)
    key = hashlib.sha1(settings.encode()).hexdigest()[:12]
    path = cache.folder / f"kinds-{format_res(res)}-{key}.npz"
    if path.is_file():
        with np.load(path) as saved:
            network = build_network(res, cfg)
            network.set_weights([saved[f"w{i}"] for i in range(len(network.weights))])
            return KindClassifier(
                network, res, float(saved["label_accuracy"]), float(saved["photo_accuracy"])
            )
    kept = cache.kept
    classifier = train_classifier(
        np.asarray(cache.arrays[res]), kinds[kept], photo_ids(source)[kept], cfg, should_stop
    )
    files.save_npz(
        path,
        {
            "label_accuracy": np.asarray(classifier.held_out_label_accuracy),
            "photo_accuracy": np.asarray(classifier.held_out_photo_accuracy),
            **{f"w{i}": w for i, w in enumerate(classifier.model.get_weights())},
        },
    )
    return classifier


def classifier_res(
    resolutions: list[Shape], res: Shape, cfg: KindClassifierConfig = KIND_CLASSIFIER
) -> Shape:
    """The model's largest stage no taller than ``res`` (the evaluated one) and ``cfg.res``:
    images of ``res`` halve down to it, and the data's cache holds it."""
    fitting = [s for s in resolutions if s[0] <= min(res[0], cfg.res[0])]
    return max(fitting) if fitting else min(resolutions)


def kind_figures(classifier: KindClassifier, fakes: np.ndarray, reals: np.ndarray) -> dict:
    """Fakes against the first ``len(fakes)`` reals, the floor against the rest.

    ``kind_fd``: Fréchet distance of the classifier's features of fakes and reals;
    ``kind_fd_floor``: the same between two sets of reals. ``kind_certainty``: how far from a
    coin toss the classifier's calls are, the mean of max(p, 1-p) over images and kinds (and
    ``_data``, of reals). ``kind_share_KIND``: the share of images it sees that kind in.
    """
    n = len(fakes)
    fake_features, fake_p = classifier.predict(fakes)
    real_features, real_p = classifier.predict(reals)
    result: dict[str, float] = {
        "kind_fd": fid(fake_features, real_features[:n]),
        "kind_fd_floor": fid(real_features[:n], real_features[n:]),
        "kind_certainty": float(np.maximum(fake_p, 1 - fake_p).mean()),
        "kind_certainty_data": float(np.maximum(real_p, 1 - real_p).mean()),
        "kind_held_out_accuracy": classifier.held_out_label_accuracy,
    }
    for k, kind in enumerate(KINDS):
        result[f"kind_share_{kind}"] = float((fake_p[:, k] > 0.5).mean())
        result[f"kind_share_data_{kind}"] = float((real_p[:, k] > 0.5).mean())
    return result


def format_kinds(result: dict, res: Shape) -> str:
    lines = [
        f"kinds of item, by a classifier trained on the data's photos at {format_res(res)} "
        f"(held-out photos: {result['kind_held_out_accuracy']:.1%} of kinds called right):",
        f"  Fréchet distance {result['kind_fd']:.3f} "
        f"(reals vs reals {result['kind_fd_floor']:.3f}), "
        f"certainty {result['kind_certainty']:.3f} (data {result['kind_certainty_data']:.3f})",
        "  kind        generated  data",
    ]
    lines += [
        f"  {kind:<11} {result[f'kind_share_{kind}']:8.1%} {result[f'kind_share_data_{kind}']:6.1%}"
        for kind in KINDS
    ]
    return "\n".join(lines)
