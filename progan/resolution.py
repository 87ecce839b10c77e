"""Resolutions at the edges are ``WIDTHxHEIGHT`` strings; inside they are ``(height, width)`` pairs.

Keeping both conversions here means a flag, a URL, a file name and the metadata all spell a
resolution the same way, and no other module parses one by hand.
"""

from __future__ import annotations

import re

from progan.errors import ProganError

Shape = tuple[int, int]

_RES_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_res(text: str) -> Shape:
    """``'80x48'`` -> ``(48, 80)``."""
    match = _RES_RE.match(str(text))
    if not match:
        raise ProganError(f"resolution {text!r} is not WIDTHxHEIGHT, e.g. 80x48")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1:
        raise ProganError(f"resolution {text!r} must have a positive width and height")
    return height, width


def format_res(shape: Shape) -> str:
    """``(48, 80)`` -> ``'80x48'``."""
    height, width = shape
    return f"{width}x{height}"


def stage_shapes(base: Shape, num_stages: int) -> list[Shape]:
    """Every stage from the base, doubling both sides each time."""
    return [(base[0] << k, base[1] << k) for k in range(num_stages)]


def base_for(target: Shape, min_side: int = 3) -> Shape:
    """Halve the target while both sides stay whole and the smaller stays at least ``min_side``.

    80x48 and 1280x768 give 5x3; 128x128 gives 4x4 (the paper's square base).
    """
    height, width = target
    while height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= min_side:
        height //= 2
        width //= 2
    return height, width


def stage_index(base: Shape, target: Shape) -> int:
    """Which stage of ``base`` has shape ``target``; a clear error when none does."""
    height, width = target
    k = 0
    while (base[0] << k) <= height:
        if (base[0] << k, base[1] << k) == (height, width):
            return k
        k += 1
    raise ProganError(
        f"{format_res(target)} is not reachable from base {format_res(base)} by doubling"
    )
