"""Widening a trained stage without changing what the network computes (Net2WiderNet, Chen et
al. 2016), so ``train.py --from`` can give a trained model more feature maps and keep training
it, instead of growing a wide stage from scratch.

A stage widened by an integer factor f holds every old feature map f times. A layer that makes
those maps copies its filters f times; a layer that reads them splits each of its weights among
the f copies with random fractions that sum to one. The sum a reader forms is then the old one,
pixel norm sees the same mean square (every map is repeated equally often), and the copies
still learn apart: with an even split they would get the same gradient forever. The equalized
learning-rate scale falls by sqrt(f) with the larger fan-in, so a widened reader's stored
weights grow by sqrt(f) to make up for it.
"""

from __future__ import annotations

import zlib

import numpy as np

from progan.errors import ProganError


def widen(name: str, array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array`` (a conv kernel ``(kh, kw, in, out)`` or a bias ``(out,)``) at ``shape``.

    The fractions come from a generator seeded by ``name``, so the live and the EMA generator
    (whose variables share names) are split alike and their EMA relation survives.
    """
    if array.ndim != len(shape) or array.ndim not in (1, 4) or array.shape[:-2] != shape[:-2]:
        raise ProganError(f"{name}: cannot widen {array.shape} to {shape}")
    factors = [new // old for old, new in zip(array.shape, shape, strict=True)]
    if any(
        old * f != new or f < 1 for old, new, f in zip(array.shape, shape, factors, strict=True)
    ):
        raise ProganError(f"{name}: {shape} is not a whole multiple of {array.shape}")
    out = np.tile(array, [1] * (array.ndim - 1) + [factors[-1]])
    if array.ndim == 1 or factors[-2] == 1:
        return out.astype(np.float32)
    f = factors[-2]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    fractions = rng.dirichlet(np.ones(f), size=out.shape)  # (..., in, out, f), sums to 1
    copies = [out * fractions[..., i] for i in range(f)]
    return (np.concatenate(copies, axis=2) * np.sqrt(f)).astype(np.float32)


def check_widths(exported: tuple[int, ...], wanted: tuple[int, ...]) -> str | None:
    """Why ``wanted`` cannot widen the export's stages ``exported``, or None if it can: the base
    stage (dense layers, the minibatch-stddev head) stays as it is, every other stage keeps its
    width or multiplies it."""
    if exported and wanted[0] != exported[0]:
        return f"the base stage keeps its {exported[0]} feature maps"
    for old, new in zip(exported[1:], wanted[1:], strict=True):
        if new % old:
            return f"{new} is not a whole multiple of {old}"
    return None
