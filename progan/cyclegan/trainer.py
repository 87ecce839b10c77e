"""CycleGAN training: least-squares adversarial losses, cycle consistency and identity, an image
pool, Adam with a linear decay, and a color curriculum; resumable, under either backend.

One iteration is two compiled steps. The generator step updates both generators on
``adv + λ·cycle + λ·s·identity`` and returns its fakes; the fakes go through a pool of earlier
fakes on the host (the critics see a history, not just the latest generator); the critic step
updates both critics on ``½·[(D(real) − 1)² + D(pooled fake)²]``. The images, the pool's choices
and the curriculum are functions of the seed and the iteration, and the pool is saved with
every checkpoint, so a resumed run continues the same stream.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from config import CycleGANConfig, LaundryConfig
from progan import backend, checkpoints, files, run_folder
from progan.cyclegan.domains import Domains, laundry_domains
from progan.cyclegan.networks import patch_critic, resnet_generator
from progan.cyclegan.translator import TRANSLATOR_JSON, WEIGHTS
from progan.datasets import laundry
from progan.errors import ProganError
from progan.latent import image_grid
from progan.progress import progress_bar
from progan.stopping import check_finite, stop_on_signals

log = logging.getLogger(__name__)


class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``rate`` until ``start`` steps, then linearly to 0 at ``end`` (the paper's schedule)."""

    def __init__(self, rate: float, start: int, end: int) -> None:
        self.rate, self.start, self.end = rate, start, end

    def __call__(self, step):
        left = (self.end - ops.cast(step, "float32")) / max(self.end - self.start, 1)
        return self.rate * ops.clip(left, 0.0, 1.0)

    def get_config(self) -> dict:
        return {"rate": self.rate, "start": self.start, "end": self.end}


class ImagePool:
    """The last ``size`` fakes (Shrivastava et al.): once full, each new fake is shown to the
    critic as it is or, with probability ½, swapped for a stored one, which it replaces."""

    def __init__(self, size: int, shape: tuple[int, ...]) -> None:
        self.images = np.zeros((size, *shape), np.float32)
        self.count = 0

    def query(self, fakes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        fakes = np.asarray(fakes, np.float32)
        if len(self.images) == 0:  # no pool: the critic sees the latest fakes
            return fakes
        out = fakes.copy()
        for i, fake in enumerate(fakes):
            if self.count < len(self.images):
                self.images[self.count] = fake
                self.count += 1
            elif rng.random() < 0.5:
                slot = rng.integers(len(self.images))
                out[i] = self.images[slot]
                self.images[slot] = fake
        return out


def curriculum_k(cfg: CycleGANConfig, iteration: int) -> int | None:
    """The number of colors of the images at ``iteration`` (None: full color)."""
    step = iteration // cfg.curriculum_iterations
    return cfg.curriculum[step] if step < len(cfg.curriculum) else None


def draw(seed: int, stream: int, count: int, position: int) -> int:
    """Item ``position`` of an endless stream of seeded full shuffles of ``count`` items."""
    epoch, offset = divmod(position, count)
    return int(np.random.default_rng([seed, stream, epoch]).permutation(count)[offset])


def logged_iterations(path: Path) -> list[dict]:
    """A translator's log: its records with an iteration and a G loss, in order, the last one
    of each iteration (a line of another log is left out)."""
    records = {
        int(r["iteration"]): r
        for r in checkpoints.read_log(path)
        if {"iteration", "g_loss"} <= r.keys()
    }
    return [records[i] for i in sorted(records)]


class CycleGANTrainer:
    """Two generators (A→B, B→A), two critics, their Adam states and a run folder."""

    def __init__(self, cfg: CycleGANConfig, laundry_cfg: LaundryConfig = laundry.DEFAULT) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.ckpt_dir = self.run_dir / run_folder.CHECKPOINTS
        saved = run_folder.saved_steps(self.run_dir, cfg.resume)
        if cfg.res[0] % 4 or cfg.res[1] % 4:
            raise ProganError(
                f"both sides of --res must divide by 4, got {cfg.res[1]}x{cfg.res[0]}"
            )
        self.laundry_cfg = laundry_cfg
        self.domains: Domains = laundry_domains(cfg, laundry_cfg)
        keras.utils.set_random_seed(cfg.seed)
        self.g_ab = resnet_generator(cfg.filters, cfg.blocks, "g_ab")
        self.g_ba = resnet_generator(cfg.filters, cfg.blocks, "g_ba")
        self.d_a = patch_critic(cfg.critic_filters, cfg.critic_layers, "d_a")
        self.d_b = patch_critic(cfg.critic_filters, cfg.critic_layers, "d_b")
        decay_start = round(cfg.iterations * cfg.decay_from)
        self.g_opt, self.d_opt = (
            keras.optimizers.Adam(
                LinearDecay(cfg.learning_rate, decay_start, cfg.iterations),
                beta_1=cfg.beta_1,
                beta_2=cfg.beta_2,
            )
            for _ in "gd"
        )
        self.g_vars = [*self.g_ab.trainable_weights, *self.g_ba.trainable_weights]
        self.d_vars = [*self.d_a.trainable_weights, *self.d_b.trainable_weights]
        self.g_opt.build(self.g_vars)
        self.d_opt.build(self.d_vars)
        shape = (*cfg.res, 3)
        self.pools = {"a": ImagePool(cfg.pool_size, shape), "b": ImagePool(cfg.pool_size, shape)}
        self.iteration = 0
        self.train_seconds = 0.0
        self.stop_signal: int | None = None
        self._steps = self._compile()
        if cfg.resume:
            self.restore(saved[-1])

    # ----------------------------------------------------------------- the step
    def _compile(self):
        cfg = self.cfg
        g_ab, g_ba, d_a, d_b = self.g_ab, self.g_ba, self.d_a, self.d_b
        identity_weight = cfg.cycle_weight * cfg.identity_share

        def mean_square(x, target: float):
            return ops.mean(ops.square(ops.cast(x, "float32") - target))

        def l1(x, y):
            return ops.mean(ops.abs(x - y))

        def generator_step(batch, _alpha):
            a, b = batch["a"], batch["b"]

            def loss():
                fake_b, fake_a = g_ab(a), g_ba(b)
                adv = mean_square(d_b(fake_b), 1.0) + mean_square(d_a(fake_a), 1.0)
                cycle = l1(g_ba(fake_b), a) + l1(g_ab(fake_a), b)
                identity = l1(g_ab(b), b) + l1(g_ba(a), a)
                total = adv + cfg.cycle_weight * cycle + identity_weight * identity
                terms = {"adv": adv, "cycle": cycle, "identity": identity}
                return total, (terms, fake_a, fake_b)

            g_loss, (terms, fake_a, fake_b) = backend.minimize(self.g_opt, self.g_vars, loss)
            return {"g_loss": g_loss, **terms, "fake_a": fake_a, "fake_b": fake_b}

        def critic_step(batch, _alpha):
            def loss():
                total = 0.0
                for critic, real, fake in ((d_a, "a", "fake_a"), (d_b, "b", "fake_b")):
                    total += 0.5 * (
                        mean_square(critic(batch[real]), 1.0) + mean_square(critic(batch[fake]), 0)
                    )
                return total, ()

            d_loss, _ = backend.minimize(self.d_opt, self.d_vars, loss)
            return {"d_loss": d_loss}

        everything = [*self._weights(), *self.g_opt.variables, *self.d_opt.variables]
        strategy = None
        if backend.name() == "tensorflow":
            import tensorflow as tf

            strategy = tf.distribute.get_strategy()
        return tuple(
            backend.compile_step(body, lambda _alpha: None, everything, strategy, jit=False)
            for body in (generator_step, critic_step)
        )

    def _weights(self) -> list:
        return [
            *self.g_ab.weights,
            *self.g_ba.weights,
            *self.d_a.weights,
            *self.d_b.weights,
        ]

    def batch_at(self, iteration: int) -> dict[str, np.ndarray]:
        """The real images of ``iteration`` in [-1, 1], at the curriculum's colors."""
        cfg, domains = self.cfg, self.domains
        k = curriculum_k(cfg, iteration)
        batch = {}
        for stream, split in enumerate(("train_a", "train_b"), start=1):
            images = getattr(domains, split) if k is None else domains.quantized(split, k)
            picks = [
                draw(cfg.seed, stream, len(images), iteration * cfg.batch_size + j)
                for j in range(cfg.batch_size)
            ]
            batch[split[-1]] = images[picks].astype(np.float32) / 127.5 - 1.0
        return batch

    def train_iteration(self) -> dict[str, float]:
        batch = self.batch_at(self.iteration)
        alpha = ops.convert_to_tensor(0.0, "float32")
        out = self._steps[0](batch, alpha)
        rng = np.random.default_rng([self.cfg.seed, 3, self.iteration])
        batch["fake_a"] = self.pools["a"].query(np.asarray(out.pop("fake_a")), rng)
        batch["fake_b"] = self.pools["b"].query(np.asarray(out.pop("fake_b")), rng)
        out |= self._steps[1](batch, alpha)
        self.iteration += 1
        return out

    # ----------------------------------------------------------------- the loop
    def train(self) -> Path:
        """Train to ``cfg.iterations``; returns the export folder. Ctrl-C saves and stops."""
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        run_folder.write_config(self.run_dir, dataclasses.asdict(cfg))
        sums: dict[str, float] = {}
        last_save = tick = time.monotonic()
        bar = progress_bar(total=cfg.iterations, initial=self.iteration, unit="it", desc="cyclegan")
        with bar, stop_on_signals(self):
            while self.iteration < cfg.iterations:
                values = {k: float(v) for k, v in self.train_iteration().items()}
                self.train_seconds += time.monotonic() - tick
                tick = time.monotonic()
                bar.update()
                check_finite(values, f"iteration {self.iteration}", self.ckpt_dir)
                sums = {k: sums.get(k, 0.0) + v for k, v in values.items()}
                if self.iteration % cfg.log_every == 0:
                    self._log({k: v / cfg.log_every for k, v in sums.items()})
                    bar.set_postfix(g=f"{sums['g_loss'] / cfg.log_every:.3f}", refresh=False)
                    sums = {}
                if self.stop_signal is not None:
                    self.save()
                    raise KeyboardInterrupt(f"stopped; saved {self.ckpt_dir}")
                if time.monotonic() - last_save > cfg.save_every_min * 60:
                    self.save()
                    last_save = time.monotonic()
        self.save()
        return self.write_export()

    def _log(self, means: dict[str, float]) -> None:
        record = {
            "iteration": self.iteration,
            "k": curriculum_k(self.cfg, self.iteration - 1),
            "train_seconds": round(self.train_seconds, 1),
            **{k: round(v, 5) for k, v in means.items()},
        }
        run_folder.log(self.run_dir, record)

    # ----------------------------------------------------------------- state
    def _state(self) -> dict:
        named = {
            f"{model.name}/{v.path}": v
            for model in (self.g_ab, self.g_ba, self.d_a, self.d_b)
            for v in model.weights
        }
        return named | checkpoints.optimizer_variables({"g_opt": self.g_opt, "d_opt": self.d_opt})

    def save(self) -> Path:
        arrays = {key: v.numpy() for key, v in self._state().items()}
        for name, pool in self.pools.items():
            arrays[f"pool/{name}"] = pool.images
            arrays[f"pool/{name}_count"] = np.int64(pool.count)
        arrays["counters/iteration"] = np.int64(self.iteration)
        arrays["counters/train_seconds"] = np.float64(self.train_seconds)
        return checkpoints.save(self.ckpt_dir, self.iteration, arrays, keep=2)

    def restore(self, step: int) -> None:
        arrays = checkpoints.load(checkpoints.path_for(self.ckpt_dir, step))
        for key, variable in self._state().items():
            variable.assign(arrays[key])
        for name, pool in self.pools.items():
            pool.images = arrays[f"pool/{name}"].copy()
            pool.count = int(arrays[f"pool/{name}_count"])
        self.iteration = int(arrays["counters/iteration"])
        self.train_seconds = float(arrays["counters/train_seconds"])
        # the iterations after the checkpoint run again and log again
        run_folder.trim_log(self.run_dir, lambda r: r.get("iteration", 0) <= self.iteration)
        log.info("resumed %s at iteration %d", self.run_dir, self.iteration)

    def write_export(self) -> Path:
        """Both generators (``translator.npz``) and what they are (``translator.json``), plus a
        figure of held-out photos: input, translation, the mask-based truth."""
        folder = self.run_dir / run_folder.EXPORT
        folder.mkdir(parents=True, exist_ok=True)
        weights = {
            f"{m.name}/{v.path}": v.numpy() for m in (self.g_ab, self.g_ba) for v in m.weights
        }
        files.save_npz(folder / WEIGHTS, weights)
        info = {
            "kind": "cyclegan",
            "from": "original",
            "to": self.cfg.color,
            "res": [self.cfg.res[1], self.cfg.res[0]],
            "filters": self.cfg.filters,
            "blocks": self.cfg.blocks,
            "iterations": self.iteration,
            "train_seconds": round(self.train_seconds, 1),
            "config": dataclasses.asdict(self.cfg),
            # The laundry set its domains came from, so evaluate rebuilds the same photos.
            "laundry": dataclasses.asdict(self.laundry_cfg),
        }
        files.write_json(folder / TRANSLATOR_JSON, info, indent=2)
        photos = self.domains.test_a[:6]
        fakes = np.asarray(self.g_ab(photos.astype(np.float32) / 127.5 - 1.0))
        translated = np.clip(np.round((fakes + 1.0) * 127.5), 0, 255).astype(np.uint8)
        rows = np.concatenate([photos, translated, self.domains.test_truth[:6]])
        files.save_image(folder / "samples.png", image_grid(rows, columns=len(photos)))
        return folder
