"""From a source of images of any size to seeded, resumable batches per stage (a tf.data
pipeline under TensorFlow, NumPy batches under JAX).

Decoding and resizing happen once: every image is padded to the target aspect ratio, resized to
the top stage with area filtering, and each lower stage is the exact 2×2 average of the one
above (as the official dataset tool builds its levels). The stages are cached as ``.npy`` files
keyed by the source's fingerprint, so an epoch only gathers rows from a memory map.

Every random choice of a batch (which images, flips, latents, the gradient-penalty mix) is a
pure function of the run seed and the number of images shown before it. A resumed run therefore
continues the exact stream it left, and a batch split across replicas is the same batch.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from progan import files
from progan.errors import ProganError
from progan.progress import progress_bar
from progan.quantize import kmeans_images
from progan.resolution import Shape, format_res
from progan.sources import FolderSource, ImageSource

log = logging.getLogger(__name__)

CACHE_VERSION = 1
KEPT = "kept.npy"


def open_source(spec: str, data_root: Path) -> ImageSource:
    """``--data`` value -> source: an existing folder, or a named data set of progan.datasets."""
    if Path(spec).is_dir():
        return FolderSource(spec)
    from progan.datasets import named_source

    return named_source(spec, data_root)


# The most pixels fit_to pads at full size (~100 MB as RGB): far above any camera's photo padded
# to 5:3, far below what a 40-megapixel upload of another aspect would pad to.
FIT_PAD_MOST = 32_000_000


def padded_shape(shape: Shape, target: Shape) -> Shape:
    """The (height, width) :func:`pad_to_aspect` gives an image of ``shape``: what it costs in
    memory before it is shrunk, which a thin strip makes far larger than the image."""
    (height, width), (t_height, t_width) = shape, target
    if width * t_height > height * t_width:
        return round(width * t_height / t_width), width
    return height, round(height * t_width / t_height)


def pad_to_aspect(image: np.ndarray, target: Shape) -> np.ndarray:
    """Centre ``image`` in black rows (or columns) so that it has the aspect ratio of ``target``.

    A 1280×720 photo and a 768×1280 target gain 24 black rows above and 24 below.
    """
    height, width = image.shape[:2]
    new_height, new_width = padded_shape((height, width), target)
    if (new_height, new_width) == (height, width):
        return image
    padded = np.zeros((new_height, new_width, 3), dtype=np.uint8)
    top, left = (new_height - height) // 2, (new_width - width) // 2
    padded[top : top + height, left : left + width] = image
    return padded


def fit_to(image: np.ndarray, target: Shape) -> np.ndarray:
    """``image`` padded to ``target``'s aspect and area-resized to it, as every consumer of
    photos prepares them (cache, translator, quantize). An image far off that aspect (a strip),
    or one whose padded copy would pass :data:`FIT_PAD_MOST` pixels, is shrunk to about twice
    the target before it is padded; any other image (a camera's photo) is padded at full size,
    exactly as before."""
    height, width = image.shape[:2]
    padded_height, padded_width = padded_shape((height, width), target)
    factor = padded_height / (2 * target[0])
    padded = padded_height * padded_width
    if factor > 1 and (padded > 4 * height * width or padded > FIT_PAD_MOST):
        smaller = (max(1, round(height / factor)), max(1, round(width / factor)))
        image = resize_area(image, smaller)
    return resize_area(pad_to_aspect(image, target), target)


def resize_area(image: np.ndarray, target: Shape) -> np.ndarray:
    """Area (box) filter when shrinking, bicubic when a small image must grow."""
    height, width = target
    if image.shape[:2] == (height, width):
        return image
    shrinking = image.shape[0] >= height and image.shape[1] >= width
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(image).resize((width, height), resample=resample))


def is_grey(image: np.ndarray) -> bool:
    """An H×W×3 image whose three channels are equal (a grey file, or one saved as RGB)."""
    return bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all())


def to_grey(images: np.ndarray) -> np.ndarray:
    """N×H×W×3 uint8 -> N×H×W×1 uint8 luma (ITU-R 601, Pillow's ``L``), in blocks of a memory
    map's rows."""
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    out = np.empty((*images.shape[:3], 1), np.uint8)
    for start in range(0, len(images), 256):
        block = np.asarray(images[start : start + 256], np.float32)
        out[start : start + 256, ..., 0] = np.round(block @ weights).astype(np.uint8)
    return out


def halve(images: np.ndarray) -> np.ndarray:
    """Exact 2×2 average of uint8 images, rounded."""
    n, h, w, c = images.shape
    blocks = images.reshape(n, h // 2, 2, w // 2, 2, c).astype(np.float32)
    return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)


@dataclass
class StageCache:
    """The cached arrays of one source: ``arrays[(h, w)]`` is a read-only N×h×w×3 memory map.

    ``kept[i]`` is the position in the source of cached image ``i`` (unreadable files leave
    gaps), which is how per-file labels find their image.
    """

    folder: Path
    arrays: dict[Shape, np.ndarray]
    skipped: int
    kept: np.ndarray
    # How many of the images are grey (equal channels): all of them make a 1-channel run.
    grey: int
    _luma: dict[Shape, np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    @property
    def all_grey(self) -> bool:
        return self.grey == len(self)

    def images(self, stage: Shape, channels: int) -> np.ndarray:
        """The images of ``stage`` with ``channels`` channels: as cached for 3, and for 1 the
        first channel of grey data (a view) or the luma of colored data (computed once)."""
        images = self.arrays[stage]
        if channels == 3:
            return images
        if self.all_grey:
            return images[..., :1]
        if stage not in self._luma:
            self._luma[stage] = to_grey(images)
        return self._luma[stage]

    def quantized(self, stage: Shape, k: int, seed: int = 0) -> np.ndarray:
        """The images of ``stage`` with ``k`` colors each (k-means per image), computed once
        and kept beside the stages (``quantized-k{k}-s{seed}/WxH.npy``), renamed into place
        when complete so that a half-written copy is never read."""
        folder = self.folder / f"quantized-k{k}-s{seed}"
        path = folder / f"{format_res(stage)}.npy"
        if not path.is_file():
            images = self.arrays[stage]
            folder.mkdir(exist_ok=True)
            with files.replacing(path) as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=images.shape)
                desc = f"{k} colors at {format_res(stage)}"
                step = 256
                for start in progress_bar(range(0, len(images), step), desc=desc, leave=False):
                    block = np.asarray(images[start : start + step])
                    out[start : start + step] = kmeans_images(block, k, seed, first_index=start)
                out.flush()
                del out
        return np.load(path, mmap_mode="r")


def build_cache(source: ImageSource, stages: list[Shape], cache_root: Path) -> StageCache:
    """Return the per-stage arrays of ``source``, building them on first use.

    A cache built for a higher top stage already holds every lower one, so evaluating a 20x12
    model on data a run cached up to 80x48 reuses that cache instead of decoding everything again.
    """
    fingerprint, base = source.fingerprint(), format_res(stages[0])
    folder = _cache_holding(Path(cache_root), f"{source.name}-{fingerprint}", base, stages)
    if folder is None:
        key = f"{fingerprint}-{format_res(stages[-1])}-{base}-v{CACHE_VERSION}"
        folder = Path(cache_root) / f"{source.name}-{key}"
        _write_cache(source, stages, folder)
    meta = _read_meta(folder)
    arrays = {
        stage: np.load(folder / f"{format_res(stage)}.npy", mmap_mode="r") for stage in stages
    }
    kept_path = folder / KEPT
    kept = np.load(kept_path) if kept_path.is_file() else np.arange(meta["count"])
    grey = meta.get("grey")
    if grey is None:  # a cache of an earlier version: its top stage tells
        top = arrays[stages[-1]]
        grey = sum(is_grey(np.asarray(top[i])) for i in range(len(top)))
    return StageCache(folder, arrays, meta["skipped"], kept, int(grey))


def _cache_holding(cache_root: Path, prefix: str, base: str, stages: list[Shape]) -> Path | None:
    """The smallest complete cache of this source and base that holds all of ``stages``."""
    best: tuple[int, Path] | None = None
    pattern = f"{glob.escape(prefix)}-*-{base}-v{CACHE_VERSION}"
    for folder in cache_root.glob(pattern):
        held = _usable_stages(folder, stages)
        if held is not None and (best is None or held < best[0]):
            best = (held, folder)
    return None if best is None else best[1]


def _usable_stages(folder: Path, stages: list[Shape]) -> int | None:
    """How many stages the cache in ``folder`` holds, if it holds ``stages`` and can be used:
    caches written before kept.npy existed cannot say which files they skipped, and one whose
    meta.json cannot be read is no cache."""
    try:
        meta = _read_meta(folder)
    except ProganError:
        return None
    knows_kept = meta["skipped"] == 0 or (folder / KEPT).is_file()
    held = set(meta["stages"])
    return len(held) if knows_kept and {format_res(s) for s in stages} <= held else None


def _read_meta(folder: Path) -> dict:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        stages = [str(stage) for stage in meta["stages"]]
        return meta | {
            "count": int(meta["count"]),
            "skipped": int(meta["skipped"]),
            "stages": stages,
        }
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ProganError(f"the cache in {folder} is damaged ({err}); delete the folder") from err


def _write_cache(source: ImageSource, stages: list[Shape], folder: Path) -> None:
    """Decode every image once into a folder of this process, renamed into place when complete.

    A cache is never seen half-built, and processes building the same cache at once (workers
    of one machine) each finish their own copy; the first rename wins, the rest are dropped.
    """
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write_stages(source, stages, tmp)
        files.sync_tree(tmp)
    except BaseException:  # Ctrl-C too: a half-built copy (gigabytes) is never left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        tmp.rename(folder)
    except OSError:  # the folder exists: another process completed the same cache first,
        if _usable_stages(folder, stages) is None:  # or it is a stale or damaged copy
            shutil.rmtree(folder, ignore_errors=True)
            try:
                tmp.rename(folder)
            except OSError:  # another process put its copy there meanwhile
                pass
        shutil.rmtree(tmp, ignore_errors=True)
        if _usable_stages(folder, stages) is None:
            raise ProganError(f"cannot replace the damaged cache in {folder}; delete it") from None
    files.sync(folder.parent)


def _write_stages(source: ImageSource, stages: list[Shape], tmp: Path) -> None:
    top = stages[-1]
    top_path = tmp / f"{format_res(top)}.npy"
    capacity = len(source)
    out = np.lib.format.open_memmap(top_path, mode="w+", dtype=np.uint8, shape=(capacity, *top, 3))
    count = grey = 0
    kept = np.empty(capacity, dtype=np.int64)
    desc = f"caching {source.name} at {format_res(top)}"
    for image in progress_bar(source.images(), total=capacity, desc=desc, unit="img", leave=False):
        out[count] = fit_to(image, top)
        grey += is_grey(image)
        # A source lists a file it cannot read in ``skipped`` before yielding the next one, so
        # the images read plus the files skipped so far is this image's position.
        kept[count] = count + len(source.skipped)
        count += 1
    skipped = capacity - count
    np.save(tmp / KEPT, kept[:count])
    if skipped:
        log.warning(
            "%d of %d images in %s could not be read and were skipped",
            skipped,
            capacity,
            source.name,
        )
    if count == 0:
        raise ProganError(f"no readable images in {source.name}")
    out.flush()
    del out
    if count < capacity:  # copied in blocks: the top stage may not fit in memory
        full = np.load(top_path, mmap_mode="r")
        trimmed_path = tmp / f"trimmed-{top_path.name}"
        trimmed = np.lib.format.open_memmap(
            trimmed_path, mode="w+", dtype=np.uint8, shape=(count, *top, 3)
        )
        for start in range(0, count, 256):
            trimmed[start : start + 256] = full[start : min(start + 256, count)]
        trimmed.flush()
        del trimmed, full
        os.replace(trimmed_path, top_path)
    above = np.load(top_path, mmap_mode="r")
    for stage in reversed(stages[:-1]):
        level = np.lib.format.open_memmap(
            tmp / f"{format_res(stage)}.npy", mode="w+", dtype=np.uint8, shape=(count, *stage, 3)
        )
        for start in range(0, count, 256):
            level[start : start + 256] = halve(np.asarray(above[start : start + 256]))
        level.flush()
        above = level
    (tmp / "meta.json").write_text(
        json.dumps(
            {
                "source": source.name,
                "count": count,
                "skipped": skipped,
                "grey": grey,
                "stages": [format_res(s) for s in stages],
            }
        )
    )


@dataclass(frozen=True)
class BatchSpec:
    """Everything that decides the contents of the batches of one phase."""

    images: np.ndarray  # N×H×W×C uint8: one stage of the cache in the run's channels
    batch_size: int  # global batch of one critic step
    n_critic: int
    latent_dim: int
    seed: int
    flip: bool
    # A conditional run: the class index of every image and the number of classes.
    labels: np.ndarray | None = None
    num_classes: int = 0
    # DiffAugment on: random numbers for the critic's three calls of each update and G's one.
    augment: bool = False
    # A color curriculum: (first image position, images) pairs in order; a step whose first
    # image lies at or after a start draws from that array (``images`` before the first).
    curriculum: tuple[tuple[int, np.ndarray], ...] = ()

    def images_at(self, position: int) -> np.ndarray:
        chosen = self.images
        for start, images in self.curriculum:
            if position >= start:
                chosen = images
        return chosen

    @property
    def keys(self) -> tuple[str, ...]:
        keys = ("reals", "z_critic", "gp_mix", "z_gen")
        if self.labels is not None:
            keys += ("labels", "labels_gen")
        return keys + ("aug", "aug_gen") if self.augment else keys


def shuffled_draws(seed: int, stream: tuple[int, ...], count: int, draws: np.ndarray) -> np.ndarray:
    """Draw ``d`` of an endless shuffled stream over ``count`` items: item ``perm_e[d mod count]``
    of epoch ``e = d div count``, one seeded permutation per epoch (a full shuffle, not a
    buffer)."""
    epochs = draws // count
    index = np.empty(len(draws), dtype=np.int64)
    for epoch in np.unique(epochs):
        perm = np.random.default_rng([seed, 1, *stream, int(epoch)]).permutation(count)
        mask = epochs == epoch
        index[mask] = perm[draws[mask] % count]
    return index


def global_batch(spec: BatchSpec, position: int) -> dict[str, np.ndarray]:
    """The training step that starts after ``position`` images shown: a pure function of both.

    Image ``p`` of an unconditional run is draw ``p`` of one shuffled stream over the data. A
    conditional run is class-balanced: image ``p`` is of class ``p mod C``, draw ``p div C`` of
    that class's own shuffled stream, so every batch holds each class as evenly as its size
    allows and a rare class is shown as often as a common one; the fakes of a critic step take
    the same labels as its reals. Arrays are batch-major so that slicing the first axis splits a
    step across replicas.
    """
    per_step = spec.batch_size * spec.n_critic
    positions = position + np.arange(per_step)
    if spec.labels is None:
        index = shuffled_draws(spec.seed, (), len(spec.images), positions)
    else:
        classes = positions % spec.num_classes
        index = np.empty(per_step, dtype=np.int64)
        for c in np.unique(classes):
            members = np.flatnonzero(spec.labels == c)
            mask = classes == c
            draws = positions[mask] // spec.num_classes
            index[mask] = members[shuffled_draws(spec.seed, (int(c),), len(members), draws)]
    rng = np.random.default_rng([spec.seed, 2, position])
    reals = np.asarray(spec.images_at(position)[index])
    if spec.flip:
        flips = rng.random(per_step) < 0.5
        reals[flips] = reals[flips, :, ::-1]
    shape = (spec.n_critic, spec.batch_size)
    batch = {
        "reals": reals.reshape(*shape, *reals.shape[1:]).swapaxes(0, 1),
        "z_critic": rng.standard_normal((*shape, spec.latent_dim), dtype=np.float32).swapaxes(0, 1),
        "gp_mix": rng.random(shape, dtype=np.float32).swapaxes(0, 1),
        "z_gen": rng.standard_normal((spec.batch_size, spec.latent_dim), dtype=np.float32),
    }
    if spec.labels is not None:
        labels = spec.labels[index].astype(np.int32).reshape(shape).swapaxes(0, 1)
        batch |= {"labels": labels, "labels_gen": np.ascontiguousarray(labels[:, 0])}
    if spec.augment:  # drawn last, so a run without augmentation keeps its stream
        batch["aug"] = rng.random((*shape, 3, 4), dtype=np.float32).swapaxes(0, 1)
        batch["aug_gen"] = rng.random((spec.batch_size, 4), dtype=np.float32)
    return batch


def step_batches(spec: BatchSpec, start: int, steps: int) -> Iterator[dict[str, np.ndarray]]:
    """``steps`` whole training steps from image count ``start``, as NumPy arrays."""
    per_step = spec.batch_size * spec.n_critic
    for step in range(steps):
        yield global_batch(spec, start + step * per_step)


def step_dataset(spec: BatchSpec, start: int, steps: int, context=None):
    """``steps`` training steps from image count ``start``, sliced for this input pipeline.

    With several replicas per pipeline the pipeline yields each replica's slice in turn, which is
    the order ``distribute_datasets_from_function`` hands elements to replicas (``context`` is
    its ``tf.distribute.InputContext``).
    """
    import tensorflow as tf

    replicas = context.num_replicas_in_sync if context else 1
    pipelines = context.num_input_pipelines if context else 1
    pipeline = context.input_pipeline_id if context else 0
    if spec.batch_size % replicas:
        raise ProganError(
            f"batch size {spec.batch_size} does not split evenly over {replicas} replicas"
        )
    local = replicas // pipelines
    per_replica = spec.batch_size // replicas
    per_step = spec.batch_size * spec.n_critic
    height, width = spec.images.shape[1:3]

    shapes = {
        "reals": ([spec.n_critic, height, width, spec.images.shape[3]], tf.uint8),
        "z_critic": ([spec.n_critic, spec.latent_dim], tf.float32),
        "gp_mix": ([spec.n_critic], tf.float32),
        "z_gen": ([spec.latent_dim], tf.float32),
        "labels": ([spec.n_critic], tf.int32),
        "labels_gen": ([], tf.int32),
        "aug": ([spec.n_critic, 3, 4], tf.float32),
        "aug_gen": ([4], tf.float32),
    }
    keys = spec.keys

    def load(element: np.int64):
        step, slot = divmod(int(element), local)
        batch = global_batch(spec, start + step * per_step)
        lo = (pipeline * local + slot) * per_replica
        return tuple(batch[k][lo : lo + per_replica] for k in keys)

    def to_tensors(element):
        tensors = tf.numpy_function(load, [element], [shapes[k][1] for k in keys], stateful=False)
        for key, tensor in zip(keys, tensors, strict=True):
            tensor.set_shape([per_replica, *shapes[key][0]])
        return dict(zip(keys, tensors, strict=True))

    dataset = tf.data.Dataset.range(steps * local).map(
        to_tensors, num_parallel_calls=2, deterministic=True
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
