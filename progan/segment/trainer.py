"""Training the cloth segmenter: binary cross-entropy plus soft Dice on augmented photos, Adam,
IoU on the held-out photos at every epoch end; resumable to the step, under either backend.

Cross-entropy alone on photos where the cloth is a fifth of the pixels learns the belt first
and the cloth's outline late; the Dice term weighs cloth and belt by their overlap instead of
their pixel counts. The batches are a function of the seed and the step (see
:func:`progan.segment.data.training_batch`), and the step count, Adam's state and the weights
are saved together, so a run stopped anywhere continues the same stream.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops
from scipy.special import expit

from config import LaundryConfig, SegmenterConfig
from progan import backend, checkpoints, run_folder
from progan.errors import ProganError
from progan.masks import pair_masks
from progan.progress import progress_bar
from progan.segment.data import load_pairs, training_batch
from progan.segment.network import unet
from progan.segment.segmenter import WEIGHTS, load_weights, write_segmenter
from progan.stopping import check_finite, stop_on_signals

log = logging.getLogger(__name__)


def training_pairs(cfg: SegmenterConfig, laundry: LaundryConfig) -> list[tuple[Path, Path]]:
    """The photo/mask pairs ``cfg.data`` names: ``laundry`` (built under the data root the
    first time), a laundry-style folder with ``images/`` and ``masks/``, or a folder of photos
    with ``cfg.masks`` beside it."""
    if cfg.masks is not None:
        return pair_masks(Path(cfg.data), Path(cfg.masks))
    folder = Path(cfg.data)
    if cfg.data == "laundry" and not folder.is_dir():
        from progan.datasets.laundry import generate

        folder = generate(Path(cfg.data_root) / "laundry", laundry)
    if not (folder / "images").is_dir() or not (folder / "masks").is_dir():
        raise ProganError(
            f"--data {cfg.data} is neither 'laundry' nor a folder with images/ and masks/; for "
            "photos and masks in two folders give --data PHOTOS --masks MASKS"
        )
    return pair_masks(folder / "images", folder / "masks")


def iou(probability: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of the cloth (share ≥ 0.5) in two masks or stacks of masks."""
    predicted, real = probability >= 0.5, truth >= 0.5
    union = np.logical_or(predicted, real).sum()
    return float(np.logical_and(predicted, real).sum() / union) if union else 1.0


def seg_loss(logits, masks):
    """Per-batch BCE on the logits plus the soft Dice loss of the probabilities."""
    logits, masks = ops.cast(logits, "float32"), ops.cast(masks, "float32")
    bce = ops.mean(ops.maximum(logits, 0) - logits * masks + ops.log1p(ops.exp(-ops.abs(logits))))
    p = ops.sigmoid(logits)
    overlap = ops.sum(p * masks, axis=(1, 2, 3))
    sizes = ops.sum(p, axis=(1, 2, 3)) + ops.sum(masks, axis=(1, 2, 3))
    dice = 1.0 - ops.mean((2.0 * overlap + 1.0) / (sizes + 1.0))
    return bce + dice, {"bce": bce, "dice": dice}


class SegmenterTrainer:
    """The network, its Adam state, the training and held-out photos, and a run folder."""

    def __init__(self, cfg: SegmenterConfig, laundry: LaundryConfig | None = None) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.ckpt_dir = self.run_dir / run_folder.CHECKPOINTS
        saved = run_folder.saved_steps(self.run_dir, cfg.resume)
        levels = len(cfg.widths) - 1
        if cfg.res[0] % 2**levels or cfg.res[1] % 2**levels:
            raise ProganError(
                f"both sides of --res must divide by {2**levels} for {len(cfg.widths)} levels, "
                f"got {cfg.res[1]}x{cfg.res[0]}"
            )
        pairs = training_pairs(cfg, laundry or LaundryConfig())
        held_out = min(cfg.held_out, len(pairs) // 5)  # a small folder keeps 4/5 to train on
        if held_out < 1 or len(pairs) - held_out < cfg.batch_size:
            raise ProganError(
                f"{len(pairs)} photos with masks are too few: a fifth at most is held out to "
                f"measure on and a batch takes {cfg.batch_size}; give at least "
                f"{max(5, cfg.batch_size + 1)} photos or a smaller --batch-size"
            )
        self.train_data, self.held_out = load_pairs(pairs, cfg.res).split(held_out)
        keras.utils.set_random_seed(cfg.seed)
        self.model = unet(cfg.widths)
        if cfg.init_from:
            load_weights(self.model, Path(cfg.init_from) / WEIGHTS)
        self.optimizer = keras.optimizers.Adam(cfg.learning_rate)
        self.optimizer.build(self.model.trainable_weights)
        self.steps_per_epoch = max(1, len(self.train_data) // cfg.batch_size)
        self.step = 0
        self.train_seconds = 0.0
        self.stop_signal: int | None = None
        self.writer = None
        self._train_step = self._compile()
        if cfg.resume:
            self.restore(saved[-1])

    def _compile(self):
        model, optimizer = self.model, self.optimizer

        def body(batch, _unused):
            def loss():
                return seg_loss(model(batch["photos"], training=True), batch["masks"])

            total, terms = backend.minimize(optimizer, model.trainable_weights, loss)
            return {"loss": total, **terms}

        strategy = None
        if backend.name() == "tensorflow":
            import tensorflow as tf

            strategy = tf.distribute.get_strategy()
        variables = [*model.weights, *optimizer.variables]
        return backend.compile_step(body, lambda _alpha: None, variables, strategy, jit=False)

    # ----------------------------------------------------------------- the loop
    def train(self) -> Path:
        """Train to ``cfg.epochs``; returns the export folder. Ctrl-C saves and stops."""
        cfg = self.cfg
        total = cfg.epochs * self.steps_per_epoch
        self.run_dir.mkdir(parents=True, exist_ok=True)
        run_folder.write_config(self.run_dir, dataclasses.asdict(cfg))
        self.writer = backend.tensorboard_writer(str(self.run_dir / run_folder.TENSORBOARD))
        unused = ops.convert_to_tensor(0.0, "float32")
        sums: dict[str, float] = {}
        summed = 0  # steps in ``sums``: fewer than an epoch in the epoch a resume lands in
        last_save = time.monotonic()
        bar = progress_bar(
            total=total * cfg.batch_size,
            initial=self.step * cfg.batch_size,
            unit="img",
            desc="segmenter",
        )
        with bar, stop_on_signals(self), contextlib.closing(self.writer):
            while self.step < total:
                tick = time.monotonic()
                values = self._train_step(training_batch(self.train_data, self.step, cfg), unused)
                values = {k: float(v) for k, v in values.items()}
                check_finite(values, f"step {self.step}", self.ckpt_dir)
                self.step += 1
                self.train_seconds += time.monotonic() - tick
                bar.update(cfg.batch_size)
                sums = {k: sums.get(k, 0.0) + v for k, v in values.items()}
                summed += 1
                if self.step % self.steps_per_epoch == 0:
                    means = {k: v / summed for k, v in sums.items()}
                    sums, summed = {}, 0
                    held_iou = self.evaluate()
                    bar.set_postfix(loss=f"{means['loss']:.3f}", iou=f"{held_iou:.4f}")
                    self._log(means | {"held_out_iou": held_iou})
                    self.save()
                    last_save = time.monotonic()
                elif self.stop_signal is not None or (
                    time.monotonic() - last_save > cfg.save_every_min * 60
                ):
                    self.save()
                    last_save = time.monotonic()
                if self.stop_signal is not None:
                    raise KeyboardInterrupt(f"stopped; saved {self.ckpt_dir}")
        return self.write_export()

    def predict(self, photos: np.ndarray, chunk: int = 16) -> np.ndarray:
        """Cloth probabilities (N×h×w) of working-resolution photos (N×h×w×3 uint8)."""
        out = []
        for start in range(0, len(photos), chunk):
            x = photos[start : start + chunk].astype(np.float32) / 127.5 - 1.0
            logits = np.asarray(self.model(x, training=False))[..., 0]
            out.append(expit(logits))
        return np.concatenate(out)

    def evaluate(self) -> float:
        """IoU over the held-out photos at the working resolution."""
        return iou(self.predict(self.held_out.photos), self.held_out.masks)

    def _log(self, values: dict[str, float]) -> None:
        epoch = self.step // self.steps_per_epoch
        record = {
            "epoch": epoch,
            "step": self.step,
            "train_seconds": round(self.train_seconds, 1),
            **{k: round(v, 5) for k, v in values.items()},
        }
        run_folder.log(self.run_dir, record)
        for name, value in values.items():
            self.writer.add_scalar(f"segmenter/{name}", value, step=self.step)
        self.writer.flush()
        log.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4f}" for k, v in values.items()))

    # ----------------------------------------------------------------- state
    def _state(self) -> dict:
        named = {f"model/{v.path}": v for v in self.model.weights}
        return named | checkpoints.optimizer_variables({"adam": self.optimizer})

    def save(self) -> Path:
        arrays = {key: v.numpy() for key, v in self._state().items()}
        arrays["counters/step"] = np.int64(self.step)
        arrays["counters/train_seconds"] = np.float64(self.train_seconds)
        return checkpoints.save(self.ckpt_dir, self.step, arrays, keep=2)

    def restore(self, step: int) -> None:
        arrays = checkpoints.load(checkpoints.path_for(self.ckpt_dir, step))
        for key, variable in self._state().items():
            if key not in arrays or arrays[key].shape != tuple(variable.shape):
                raise ProganError(
                    f"the checkpoint in {self.ckpt_dir} does not fit this segmenter ({key}); "
                    "resume with the settings it was started with"
                )
            variable.assign(arrays[key])
        self.step = int(arrays["counters/step"])
        self.train_seconds = float(arrays["counters/train_seconds"])
        run_folder.trim_log(self.run_dir, lambda r: r.get("step", 0) <= self.step)
        log.info("resumed %s at step %d", self.run_dir, self.step)

    def write_export(self) -> Path:
        """The network and what it is, with its last held-out IoU."""
        cfg = self.cfg
        records = run_folder.records(self.run_dir)
        info = {
            "res": list(cfg.res),
            "widths": list(cfg.widths),
            "refine_radius": cfg.refine_radius,
            "refine_eps": cfg.refine_eps,
            "refine_band": cfg.refine_band,
            "min_cloth_share": cfg.min_cloth_share,
            "epochs": self.step / self.steps_per_epoch,
            "train_seconds": round(self.train_seconds, 1),
            "train_photos": len(self.train_data),
            "held_out_photos": len(self.held_out),
            "held_out_iou": records[-1].get("held_out_iou") if records else None,
            "config": dataclasses.asdict(cfg),
        }
        return write_segmenter(self.run_dir / run_folder.EXPORT, self.model, info)
