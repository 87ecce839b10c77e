"""A run's settings against its data and devices, checked before anything is built.

Each check says in one line what does not fit and which flag changes it, so that a run that
cannot work stops at once instead of at its first phase end hours later.
"""

from __future__ import annotations

import logging

from config import TrainConfig
from progan.data import StageCache
from progan.errors import ProganError
from progan.layers import mbstd_group
from progan.resolution import Shape, format_res

log = logging.getLogger(__name__)


def check_data(cache: StageCache, name: str, batch_sizes: tuple[int, ...]) -> None:
    """At least one batch of readable images for every stage's batch in ``batch_sizes``."""
    count, largest = len(cache), max(batch_sizes)
    if count < largest:
        raise ProganError(
            f"{name} has {count} readable images, fewer than one batch ({largest}); add images "
            "or lower the batch size"
        )
    if cache.skipped:
        log.warning("%s: %d unreadable files skipped", name, cache.skipped)


def check_mbstd_groups(
    shapes: list[Shape], batch_sizes: tuple[int, ...], replicas: int, wanted: int
) -> None:
    """Minibatch stddev groups come from each replica's batch: never below 2 (the feature
    would be a constant), and a smaller group than configured is said once. (Under JAX the
    step sees the whole batch even when it is sharded over devices.)"""
    smaller = []
    for shape, batch in zip(shapes, batch_sizes, strict=False):
        per_replica = batch // replicas
        group = mbstd_group(per_replica, wanted)
        if group < 2 <= wanted:
            raise ProganError(
                f"at {format_res(shape)} each of the {replicas} replicas gets {per_replica} "
                f"images, which minibatch stddev cannot split into groups of 2 or more; give "
                f"--batch-sizes a multiple of {wanted * replicas} for that stage"
            )
        if group < wanted:
            smaller.append(f"{format_res(shape)}: {group}")
    if smaller:
        log.warning(
            "minibatch stddev uses groups smaller than %d (per-replica batch not a multiple of "
            "it): %s",
            wanted,
            ", ".join(smaller),
        )


def check_jax_devices(shapes: list[Shape], batch_sizes: tuple[int, ...]) -> None:
    """Under JAX's mirrored strategy every stage's batch splits evenly over the local devices."""
    import jax

    devices = jax.local_device_count()
    uneven = [
        format_res(shape)
        for shape, batch in zip(shapes, batch_sizes, strict=False)
        if batch % devices
    ]
    if uneven:
        raise ProganError(
            f"the batch at {', '.join(uneven)} does not split over the {devices} local devices; "
            "give --batch-sizes multiples of the device count"
        )


def image_channels(cfg: TrainConfig, cache: StageCache, name: str) -> int:
    """The channels a run trains in: a new run's ``--image-channels`` (auto: 1 when every image
    is grey); a resumed run and one ``--from`` an export keep their network's, the data
    converted to them."""
    if cfg.resume or cfg.start_from:
        channels = cfg.network.image_channels
    elif cfg.image_channels == "auto":
        channels = 1 if cache.all_grey else 3
        if 0 < cache.grey < len(cache):
            colored = len(cache) - cache.grey
            log.info(
                "%s holds %d grey images among %d colored: a 3-channel run",
                name,
                cache.grey,
                colored,
            )
    else:
        channels = int(cfg.image_channels)
    if channels == 1 and cfg.color_curriculum:
        raise ProganError("--color-curriculum grows colors; a 1-channel run has none")
    log.info("training %s images", "grey (1-channel)" if channels == 1 else "color")
    return channels
