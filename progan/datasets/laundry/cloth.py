"""Laundry items laid flat in their own "cloth space": outlines, fold-overs, seams and prints.

Cloth space is measured in pixels, ``a`` across the item and ``b`` along it (negative ``b`` is
the collar or waistband). An outline is a signed distance (negative inside), which gives
anti-aliased edges, hems at a fixed distance from the edge and contact shadows for free. The
scene module maps image pixels into cloth space through crumpling and folds, so stripes,
seams and outlines all bend together, as cloth does.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

KINDS = ("towel", "sheet", "pillowcase", "shirt", "trousers")
KIND_WEIGHTS = (0.3, 0.15, 0.2, 0.2, 0.15)

# Base colors (sRGB reflectance). White and light grey make up most of the real data; white is
# kept below 0.9 so that lamps and fold highlights rarely burn it out, as a well-exposed camera.
WHITES = {
    "white": (0.86, 0.86, 0.85),
    "warm white": (0.87, 0.85, 0.81),
    "cool white": (0.83, 0.85, 0.88),
    "light grey": (0.74, 0.74, 0.73),
    "grey": (0.63, 0.63, 0.63),
}
COLORED = {
    "navy": (0.13, 0.18, 0.4),
    "royal blue": (0.16, 0.32, 0.7),
    "light blue": (0.55, 0.72, 0.9),
    "scrub green": (0.2, 0.55, 0.5),
    "bottle green": (0.12, 0.38, 0.2),
    "red": (0.78, 0.12, 0.13),
    "burgundy": (0.5, 0.1, 0.16),
    "yellow": (0.93, 0.8, 0.25),
    "orange": (0.93, 0.5, 0.15),
    "pink": (0.93, 0.6, 0.72),
    "denim": (0.24, 0.34, 0.52),
    "khaki": (0.72, 0.64, 0.45),
}


@dataclass(frozen=True)
class Fold:
    """A fold line in cloth space; the part on the positive side is flipped over onto the rest."""

    point: tuple[float, float]
    normal: tuple[float, float]


@dataclass(frozen=True)
class Garment:
    """One item in cloth space: what it is, how big, its colors, print and folds."""

    kind: str
    length: float
    width: float
    color_name: str
    color: tuple[float, float, float]
    white: bool
    pattern: str
    pattern_color: tuple[float, float, float]
    period: float
    pattern_across: bool
    limbs: tuple[float, float]
    long_limbs: bool
    folds: tuple[Fold, ...]

    @property
    def radius(self) -> float:
        """Half the diagonal of the unfolded item, limbs included: its size in any pose."""
        reach = self.length * (1.6 if self.kind == "shirt" and self.long_limbs else 1.0)
        return 0.5 * math.hypot(reach, self.width * (1.8 if self.kind == "shirt" else 1.0))


def sample_garment(
    rng: np.random.Generator, unit: float, white_share: float, pattern_share: float
) -> Garment:
    """Draw an item; ``unit`` is pixels per 1/720 of the image height, so that a scene keeps
    its look at any image size (the tests render small)."""
    kind = str(rng.choice(KINDS, p=KIND_WEIGHTS))
    white = bool(rng.random() < white_share)
    palette = WHITES if white else COLORED
    color_name = str(rng.choice(list(palette)))
    if kind == "trousers" and not white and rng.random() < 0.5:
        color_name = str(rng.choice(["denim", "navy", "khaki"]))
    color = palette[color_name]

    length, width = _dimensions(rng, kind, unit)
    pattern = "plain"
    if rng.random() < pattern_share and kind != "trousers":
        allowed = {
            "towel": ("stripes", "border", "border"),
            "sheet": ("stripes", "checks", "pinstripes"),
            "pillowcase": ("stripes", "border", "checks"),
            "shirt": ("stripes", "checks", "pinstripes"),
        }[kind]
        pattern = str(rng.choice(allowed))
    accent = COLORED if white else {**WHITES, **COLORED}
    pattern_color = accent[str(rng.choice(list(accent)))]
    period = float(rng.uniform(14, 46) * unit)
    limbs = (float(rng.uniform(0.2, 1.3)), float(rng.uniform(0.2, 1.3)))
    if kind == "trousers":
        limbs = (float(rng.uniform(0.0, 0.25)), float(rng.uniform(0.0, 0.25)))
    garment = Garment(
        kind=kind,
        length=length,
        width=width,
        color_name=color_name,
        color=color,
        white=white,
        pattern=pattern,
        pattern_color=pattern_color,
        period=period,
        pattern_across=bool(rng.random() < 0.5),
        limbs=limbs,
        long_limbs=bool(rng.random() < 0.6),
        folds=(),
    )
    return _with_folds(rng, garment)


def scaled(g: Garment, factor: float) -> Garment:
    """The same item, smaller or larger: for one that would not fit between the rails."""
    folds = tuple(
        Fold(point=(f.point[0] * factor, f.point[1] * factor), normal=f.normal) for f in g.folds
    )
    return dataclasses.replace(g, length=g.length * factor, width=g.width * factor, folds=folds)


def _dimensions(rng: np.random.Generator, kind: str, unit: float) -> tuple[float, float]:
    """Length along the item and width across it, in pixels (a belt is ~560 units wide)."""
    if kind == "towel":
        length = rng.uniform(400, 560)
        return length * unit, length / rng.uniform(1.4, 1.9) * unit
    if kind == "sheet":
        length = rng.uniform(560, 720)
        return length * unit, length / rng.uniform(1.1, 1.5) * unit
    if kind == "pillowcase":
        length = rng.uniform(360, 470)
        return length * unit, length / rng.uniform(1.3, 1.6) * unit
    if kind == "shirt":
        length = rng.uniform(400, 500)
        return length * unit, length * rng.uniform(0.8, 0.95) * unit
    length = rng.uniform(500, 620)
    return length * unit, length * rng.uniform(0.36, 0.42) * unit


def _with_folds(rng: np.random.Generator, g: Garment) -> Garment:
    """Flip part of the item over itself: corners of towels, halves of sheets, a trouser leg."""
    chance = {"towel": 0.55, "sheet": 1.0, "pillowcase": 0.35, "shirt": 0.35, "trousers": 0.45}
    count = 0
    if rng.random() < chance[g.kind]:
        count = 1 + int(g.kind == "sheet" and rng.random() < 0.6)
    folds = []
    for _ in range(count):
        side = float(rng.choice([-1.0, 1.0]))
        if g.kind == "trousers" and rng.random() < 0.7:
            if rng.random() < 0.5:
                folds.append(Fold(point=(0.0, 0.0), normal=(side, 0.0)))
            else:
                knee = rng.uniform(0.1, 0.5) * g.length / 2
                folds.append(Fold(point=(0.0, knee), normal=(0.0, 1.0)))
            continue
        if g.kind == "shirt" and rng.random() < 0.7:
            folds.append(
                Fold(point=(side * rng.uniform(0.45, 0.65) * g.width / 2, 0.0), normal=(side, 0.0))
            )
            continue
        angle = rng.uniform(0, 2 * math.pi)
        normal = (math.cos(angle), math.sin(angle))
        extent = abs(normal[0]) * g.width / 2 + abs(normal[1]) * g.length / 2
        offset = rng.uniform(0.0, 0.6) * extent
        if g.kind == "sheet":
            offset = rng.uniform(-0.15, 0.25) * extent
        folds.append(Fold(point=(normal[0] * offset, normal[1] * offset), normal=normal))
    return dataclasses.replace(g, folds=tuple(folds))


def _box(
    a: np.ndarray,
    b: np.ndarray,
    center: tuple[float, float],
    half: tuple[float | np.ndarray, float],
    angle: float = 0.0,
    corner: float = 0.0,
) -> np.ndarray:
    """Signed distance to a rectangle with rounded corners, turned by ``angle`` radians."""
    x = a - center[0]
    y = b - center[1]
    if angle:
        c, s = math.cos(angle), math.sin(angle)
        x, y = c * x + s * y, -s * x + c * y
    qx = np.abs(x) - half[0] + corner
    qy = np.abs(y) - half[1] + corner
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0) - corner


def _limb(
    a: np.ndarray,
    b: np.ndarray,
    root: tuple[float, float],
    angle: float,
    length: float,
    widths: tuple[float, float],
) -> np.ndarray:
    """A sleeve or trouser leg: a tapering box from ``root``, pointing down turned by ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    x = a - root[0]
    y = b - root[1]
    along = -s * x + c * y
    across = c * x + s * y
    t = np.clip(along / length, 0.0, 1.0)
    half = widths[0] + (widths[1] - widths[0]) * t
    qx = np.abs(across) - half
    qy = np.abs(along - length / 2) - length / 2
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


def outline(g: Garment, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed distance in pixels to the unfolded item's edge (negative inside)."""
    half_w, half_l = g.width / 2, g.length / 2
    if g.kind in ("towel", "sheet", "pillowcase"):
        return _box(a, b, (0.0, 0.0), (half_w, half_l), corner=0.03 * half_w)
    if g.kind == "shirt":
        torso = _box(a, b, (0.0, 0.04 * half_l), (0.66 * half_w, 0.96 * half_l), corner=4.0)
        reach = (1.05 if g.long_limbs else 0.45) * half_l
        shoulder = (0.56 * half_w, -0.8 * half_l)
        sleeves = [
            _limb(
                a,
                b,
                (side * shoulder[0], shoulder[1]),
                -side * angle,
                reach,
                (0.24 * half_w, 0.15 * half_w if g.long_limbs else 0.21 * half_w),
            )
            for side, angle in ((-1.0, g.limbs[0]), (1.0, g.limbs[1]))
        ]
        body = np.minimum(torso, np.minimum(*sleeves))
        neck = 0.15 * half_w - np.hypot(a, b + 0.99 * half_l)
        return np.maximum(body, neck)
    waist = _box(a, b, (0.0, -0.9 * half_l), (0.95 * half_w, 0.1 * half_l))
    hips = _box(a, b, (0.0, -0.62 * half_l), (0.98 * half_w, 0.3 * half_l))
    legs = [
        _limb(
            a,
            b,
            (side * 0.48 * half_w, -0.5 * half_l),
            -side * angle,
            1.48 * half_l,
            (0.5 * half_w, 0.36 * half_w),
        )
        for side, angle in ((-1.0, g.limbs[0]), (1.0, g.limbs[1]))
    ]
    return np.minimum(np.minimum(waist, hips), np.minimum(*legs))


@dataclass
class Layered:
    """The visible layer at every pixel after the folds: distance to its edge, its cloth
    coordinates, how many times it was flipped, and the contact shadow of layers above."""

    dist: np.ndarray
    a: np.ndarray
    b: np.ndarray
    flips: np.ndarray
    shadow: np.ndarray
    crease: np.ndarray


def fold(g: Garment, a: np.ndarray, b: np.ndarray, unit: float) -> Layered:
    """Apply the folds in order; a flipped part lies on top of what it covers."""
    return _fold(g, a, b, len(g.folds), unit)


def _fold(g: Garment, a: np.ndarray, b: np.ndarray, depth: int, unit: float) -> Layered:
    if depth == 0:
        zeros = np.zeros_like(a)
        return Layered(outline(g, a, b), a, b, zeros, np.ones_like(a), zeros)
    f = g.folds[depth - 1]
    nx, ny = f.normal
    side = (a - f.point[0]) * nx + (b - f.point[1]) * ny
    under = _fold(g, a, b, depth - 1, unit)
    over = _fold(g, a - 2 * side * nx, b - 2 * side * ny, depth - 1, unit)
    under_dist = np.maximum(under.dist, side)
    over_dist = np.maximum(over.dist, side)
    top = over_dist < 0
    cast = np.exp(-np.maximum(over_dist, 0.0) / (9.0 * unit))
    shadow = np.where(top, over.shadow, under.shadow * (1.0 - 0.45 * cast))
    crease = np.where(top, np.exp(-((side / (5.0 * unit)) ** 2)), under.crease)
    return Layered(
        dist=np.where(top, over_dist, under_dist),
        a=np.where(top, over.a, under.a),
        b=np.where(top, over.b, under.b),
        flips=np.where(top, over.flips + 1, under.flips),
        shadow=shadow,
        crease=np.maximum(crease, np.where(top, over.crease, 0.0)),
    )


@dataclass(frozen=True)
class Footprint:
    """Where the folded item lies in cloth space: its bounding box's centre and half sizes."""

    center: tuple[float, float]
    half: tuple[float, float]


def footprint(g: Garment) -> Footprint:
    """Measure the folded item on a coarse grid; folds move the visible part off the middle."""
    span = 2.5 * g.radius
    axis = np.linspace(-span, span, 64, dtype=np.float32)
    b, a = np.meshgrid(axis, axis, indexing="ij")
    inside = fold(g, a, b, 1.0).dist < 0
    if not inside.any():
        return Footprint((0.0, 0.0), (0.0, 0.0))
    xs, ys = a[inside], b[inside]
    step = float(axis[1] - axis[0])
    return Footprint(
        center=(float(xs.max() + xs.min()) / 2, float(ys.max() + ys.min()) / 2),
        half=(float(xs.max() - xs.min()) / 2 + step, float(ys.max() - ys.min()) / 2 + step),
    )


def _band(x: np.ndarray, duty: float, soft: float) -> np.ndarray:
    """Anti-aliased periodic stripes: 1 on a ``duty`` share of each period of ``x`` (periods)."""
    tri = np.abs((x % 1.0) - 0.5) * 2.0
    return np.clip((tri - (1.0 - duty)) / soft + 0.5, 0.0, 1.0)


def print_mix(g: Garment, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of the print color at every pixel, in [0, 1]: the woven or printed pattern."""
    if g.pattern == "plain":
        return np.zeros_like(a)
    soft = 1.5 / g.period
    along = (a if g.pattern_across else b) / g.period
    if g.pattern == "stripes":
        return _band(along, 0.45, soft)
    if g.pattern == "pinstripes":
        return _band(along, 0.12, soft)
    if g.pattern == "checks":
        return 0.5 * (_band(a / g.period, 0.5, soft) + _band(b / g.period, 0.5, soft))
    end = np.abs(b) / (g.length / 2)
    band = np.clip((end - 0.72) * g.length / 3, 0, 1) * np.clip((0.86 - end) * g.length / 3, 0, 1)
    thin = _band(b / (g.period * 0.35), 0.5, soft * 3)
    return band * (0.6 + 0.4 * thin)


def seams(g: Garment, layered: Layered, unit: float) -> np.ndarray:
    """Multiplicative shading of hems, stitched seams, plackets, buttons and waistbands."""
    a, b, dist = layered.a, layered.b, layered.dist
    half_w, half_l = g.width / 2, g.length / 2
    line_w = 1.3 * unit

    def line(x: np.ndarray) -> np.ndarray:
        return np.exp(-((x / line_w) ** 2))

    hem = 9.0 * unit
    factor = 1.0 - 0.18 * line(dist + hem) + 0.05 * _share(dist > -hem)
    if g.kind == "pillowcase":
        factor *= 1.0 - 0.2 * line(b - 0.62 * half_l)
    elif g.kind == "shirt":
        neck = np.hypot(a, b + 0.99 * half_l)
        collar = 0.15 * half_w + 0.1 * half_w
        factor *= 1.0 - 0.2 * line(neck - collar) + 0.06 * _share(neck < collar)
        placket = _share((b > -0.8 * half_l) & (b < 0.92 * half_l))
        factor *= 1.0 - 0.15 * placket * (line(a - 0.07 * half_w) + line(a + 0.07 * half_w))
        step = 0.22 * half_l
        button = np.hypot(a, (b + 0.8 * half_l) % step - step / 2)
        factor *= 1.0 - 0.25 * placket * line(button - 0.03 * half_w)
    elif g.kind == "trousers":
        waist_line = _share((np.abs(a) < 0.95 * half_w) & (b < -0.5 * half_l))
        factor *= 1.0 - 0.25 * waist_line * line(b + 0.8 * half_l)
        fly = _share((b > -0.8 * half_l) & (b < -0.45 * half_l))
        factor *= 1.0 - 0.18 * fly * line(a - 0.12 * half_w + 0.2 * (b + 0.8 * half_l) * 0.3)
        pockets = _share((b < -0.5 * half_l) & (b > -0.8 * half_l))
        slant = np.abs(a) - 0.62 * half_w - 0.5 * (b + 0.8 * half_l)
        factor *= 1.0 - 0.2 * pockets * line(slant)
    return factor


def _share(flags: np.ndarray) -> np.ndarray:
    """Booleans as float32 (a bare bool array times a float would silently become float64)."""
    return flags.astype(np.float32)
