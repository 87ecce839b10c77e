"""What a run leaves for its reader: at every phase end a sample grid, the export, the figures
(SWD, MS-SSIM, on laundry data the kind classifier's) and a ``metrics.jsonl`` line; at every save
the ``latest/`` export, so a long phase can be watched in the studio before it ends. All from the
EMA generator, on the chief only."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from config import TrainConfig
from progan import export, files, kinds, run_folder
from progan.data import StageCache
from progan.errors import ProganError
from progan.export import to_uint8
from progan.generator import Generator
from progan.latent import as_rgb, image_grid, seed_latents
from progan.metrics import chroma_and_hue, evaluate, sample_reals
from progan.resolution import Shape, format_res
from progan.schedule import Phase
from progan.sources import ImageSource
from progan.training_state import Progress, model_variables
from progan.training_step import Models

log = logging.getLogger(__name__)
# Of evaluate's kind figures, those that say how a run is going (the shares are for a reader).
PHASE_END_KIND_FIGURES = ("kind_fd", "kind_fd_floor", "kind_certainty", "kind_certainty_data")
# Images whose mean chroma and hue a phase end logs beside the data's (a color cast as a number).
CAST_SAMPLES = 512


class PhaseReport:
    """Renders, measures and exports the EMA generator of one run for its run folder."""

    def __init__(
        self,
        cfg: TrainConfig,
        source: ImageSource,
        cache: StageCache,
        shapes: list[Shape],
        kinds_shown: np.ndarray | None,
        should_stop: Callable[[], bool],
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.source, self.cache, self.shapes = source, cache, shapes
        self.kinds_shown = kinds_shown
        self.should_stop = should_stop
        self.classes = len(cfg.network.classes) if cfg.labels else 0

    def phase_end(
        self, index: int, phase: Phase, models: Models, progress: Progress, losses: dict, writer
    ) -> None:
        """Sample grid, export, evaluation and one metrics.jsonl line for finished phase
        ``index``; the figures go to TensorBoard too when there is a ``writer``."""
        kimg = progress.images_shown / 1000
        grid = self.sample_grid(models.G_ema, phase.stage)
        samples = self.run_dir / run_folder.SAMPLES
        samples.mkdir(exist_ok=True)
        name = f"{kimg:08.1f}kimg-{format_res(self.shapes[phase.stage])}-{phase.name}.png"
        files.save_image(samples / name, grid)
        self.write_export(models, phase.stage + 1, progress, phases_done=index + 1)
        scores = {}
        if self.cfg.eval_images:
            try:
                scores = self.evaluate(models.G_ema, phase.stage)
            except (ProganError, ValueError, OSError) as err:  # a figure never stops a run
                log.warning("phase %d: no evaluation (%s); training goes on", index, err)
        for key, value in scores.items():
            if writer is not None:
                writer.add_scalar(f"eval/{key}", value, step=progress.images_shown)
        record = {
            "kimg": kimg,
            "phase": index,
            "stage": phase.stage,
            "res": format_res(self.shapes[phase.stage]),
            "name": phase.name,
            "time": time.time(),
            "train_seconds": round(progress.train_seconds, 1),
            **losses,
            **scores,
        }
        run_folder.log(self.run_dir, record)
        log.info("phase %d done at %.1f kimg: %s", index, kimg, samples / name)

    def evaluate(self, G_ema: Generator, stage: int) -> dict[str, float | int]:
        """SWD and MS-SSIM of the EMA generator at ``stage`` on ``eval_images`` random latents;
        on laundry data from the kind classifier's stage up, the kind figures too (the classifier
        is trained at the first such phase end, about ten minutes on two cores at 80x48, and
        cached beside the data, where later runs and ``evaluate`` find it)."""
        channels = G_ema.net.image_channels
        reals = sample_reals(
            self.cache.images(self.shapes[stage], channels), 2 * self.cfg.eval_images, self.cfg.seed
        )
        n = len(reals) // 2
        # seeds 0.. once for both: the first n measured, the first CAST_SAMPLES for the cast
        count = max(n, CAST_SAMPLES) if channels == 3 else n
        z = seed_latents(list(range(count)), G_ema.net.latent_dim)
        rendered = self.render(G_ema, z, stage, self._labels_for(count))
        fakes = rendered[:n]
        scores = evaluate(fakes, reals, seed=self.cfg.seed)
        if channels == 3:
            scores |= self.color_cast(rendered[:CAST_SAMPLES], stage)
        # the classifier evaluate would use on the finished model, from its stage up
        shape = kinds.classifier_res(self.shapes, self.shapes[-1])
        if self.kinds_shown is not None and self.shapes[stage] >= shape:
            try:  # Ctrl-C ends the classifier's first training (ten minutes) at once
                classifier = kinds.cached_classifier(
                    self.source, self.kinds_shown, self.cache, shape, should_stop=self.should_stop
                )
            except kinds.ClassifierStopped as stopped:
                log.warning("no kind figures at this phase end: %s", stopped)
                return scores
            # the classifier sees color photos; a grey run's images are shown it as grey ones
            figures = kinds.kind_figures(classifier, as_rgb(fakes), as_rgb(reals))
            scores |= {key: figures[key] for key in PHASE_END_KIND_FIGURES}
        return scores

    def color_cast(self, fakes: np.ndarray, stage: int) -> dict[str, float]:
        """Mean chroma and hue of ``fakes`` (:data:`CAST_SAMPLES` of seeds 0..) against as many
        reals: a phase end whose samples are tinted (on data without that tint) shows it."""
        reals = sample_reals(self.cache.arrays[self.shapes[stage]], len(fakes), self.cfg.seed)
        (chroma, hue), (chroma_data, hue_data) = chroma_and_hue(fakes), chroma_and_hue(reals)
        return {"chroma": chroma, "hue": hue, "chroma_data": chroma_data, "hue_data": hue_data}

    def _labels_for(self, count: int) -> np.ndarray | None:
        """Labels for ``count`` generated images: every class in turn (None when unconditional),
        so grids and phase-end evaluations show the classes evenly, as training draws them."""
        if not self.classes:
            return None
        return np.arange(count, dtype=np.int32) % self.classes

    def render(
        self, G_ema: Generator, z: np.ndarray, stage: int, labels: np.ndarray | None
    ) -> np.ndarray:
        """The EMA generator's images, in chunks of the stage's training batch: what fit in a
        training step fits here."""
        size = self.cfg.schedule.batch_sizes[stage]
        return np.concatenate(
            [
                to_uint8(
                    G_ema(
                        z[i : i + size],
                        stage=stage,
                        labels=None if labels is None else labels[i : i + size],
                    )
                )
                for i in range(0, len(z), size)
            ]
        )

    def sample_grid(self, G_ema: Generator, stage: int) -> np.ndarray:
        """The EMA generator on fixed seeds 0.., enlarged to at least 96 px high, tiled.

        A conditional model shows one row per class, the same seeds in every row.
        """
        rows, cols = self.cfg.grid_size
        if not self.classes:
            z, labels = seed_latents(list(range(rows * cols)), G_ema.net.latent_dim), None
        else:
            z = np.tile(seed_latents(list(range(cols)), G_ema.net.latent_dim), (self.classes, 1))
            labels = np.repeat(np.arange(self.classes, dtype=np.int32), cols)
        images = self.render(G_ema, z, stage, labels)
        scale = max(1, 96 // images.shape[1])
        return image_grid(images.repeat(scale, axis=1).repeat(scale, axis=2), columns=cols)

    def _export_info(self, progress: Progress) -> dict:
        return {
            "dataset": self.source.name,
            "images_shown": progress.images_shown,
            "train_seconds": round(progress.train_seconds, 1),
            "preset": self.cfg.preset,
            "command": self.cfg.command,
            "seed": self.cfg.seed,
        }

    def write_latest(self, G_ema: Generator, phase: Phase, progress: Progress) -> Path:
        """The EMA G of a save as a render-only export, so a long phase (the paper's are 600
        kimg) can be evaluated or watched in the studio before it ends. Mid-fade-in it stops at
        the stage below, the last one that renders whole without the blend."""
        stages = phase.stage + (0 if phase.fading and progress.alpha < 1 else 1)
        info = self._export_info(progress) | {"phase": phase.name, "alpha": progress.alpha}
        return export.write_export(self.run_dir / run_folder.LATEST, G_ema, stages, info)

    def write_export(
        self, models: Models, stages: int, progress: Progress, phases_done: int
    ) -> Path:
        """The EMA G for rendering, plus the training state of this phase end (``--from``)."""
        info = self._export_info(progress) | {
            "training": {
                "phases_done": phases_done,
                "images_shown": progress.images_shown,
                "train_seconds": progress.train_seconds,
                "config": self.cfg.to_dict(),
            },
        }
        state = {
            key: v.numpy()
            for key, v in model_variables(models).items()
            if not key.startswith("generator_ema/")
        }
        folder = self.run_dir / run_folder.EXPORT
        return export.write_export(folder, models.G_ema, stages, info, state=state)
