"""One laundry-belt photo: sample the random choices of a scene, then render it with its masks.

Sampling and rendering are separate so that every random number is drawn up front from one
generator seeded by (data set seed, image index): an image does not depend on which worker
made it or in which order, and a test can re-render the same belt with the items left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from config import LaundryConfig
from progan.datasets.laundry import cloth
from progan.datasets.laundry.belt import (
    Belt,
    Lighting,
    light_gain,
    render_belt,
    sample_belt,
    sample_lighting,
)
from progan.datasets.laundry.noise import blur, enlarge, grain, smooth_noise

Shape = tuple[int, int]
Ridge = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class Item:
    """A garment placed on the belt: where, turned how far, and how crumpled.

    ``box`` bounds the folded item in the image before crumpling: centre offset from
    ``center`` and half sizes, (x, y, half_x, half_y).
    """

    garment: cloth.Garment
    center: tuple[float, float]
    box: tuple[float, float, float, float]
    angle: float
    crumple: float
    bumps: float
    ridges: tuple[Ridge, ...]
    seed: int


@dataclass(frozen=True)
class Scene:
    """Every random choice of one photo; rendering it is deterministic."""

    shape: Shape
    belt: Belt
    lighting: Lighting
    light_dir: tuple[float, float, float]
    items: tuple[Item, ...]
    noise_seed: int


@dataclass
class Example:
    """A rendered photo with its belt/laundry mask (0/255) and instance mask (0 belt, k item)."""

    image: np.ndarray
    mask: np.ndarray
    instances: np.ndarray
    scene: Scene


def sample_scene(rng: np.random.Generator, cfg: LaundryConfig) -> Scene:
    """Belt, lamps and 1 to ``cfg.max_items`` items, spread along the belt in random order so
    that neighbours overlap now and then, as on a real belt."""
    shape = cfg.size
    height, width = shape
    unit = height / 720
    belt = sample_belt(rng, shape)
    lighting = sample_lighting(rng, shape)
    azimuth = rng.uniform(0, 2 * math.pi)
    light_dir = (0.55 * math.cos(azimuth), 0.55 * math.sin(azimuth), 0.83)
    count = int(rng.choice(np.arange(1, cfg.max_items + 1)))
    slots = rng.permutation(count)
    items = []
    for slot in slots:
        garment = cloth.sample_garment(rng, unit, cfg.white_share, cfg.pattern_share)
        x = (slot + 0.5 + rng.uniform(-0.3, 0.3)) / count * width
        items.append(_place(rng, garment, x, belt, unit))
    return Scene(
        shape=shape,
        belt=belt,
        lighting=lighting,
        light_dir=light_dir,
        items=tuple(items),
        noise_seed=int(rng.integers(2**32)),
    )


def _place(
    rng: np.random.Generator, garment: cloth.Garment, x: float, belt: Belt, unit: float
) -> Item:
    """Turn the item so that it fits between the rails when it can, and crumple it."""
    room = belt.bottom - belt.top
    fp = cloth.footprint(garment)
    best_angle, best_extent = 0.0, math.inf
    for _ in range(12):
        angle = rng.uniform(0, 2 * math.pi)
        extent = 2 * (abs(math.sin(angle)) * fp.half[0] + abs(math.cos(angle)) * fp.half[1])
        if extent < best_extent:
            best_angle, best_extent = angle, extent
        if extent < 0.9 * room:
            break
    if best_extent > 0.95 * room:
        factor = 0.95 * room / best_extent
        garment = cloth.scaled(garment, factor)
        fp = cloth.Footprint(
            center=(fp.center[0] * factor, fp.center[1] * factor),
            half=(fp.half[0] * factor, fp.half[1] * factor),
        )
        best_extent *= factor
    slack = max(0.0, room - 1.05 * best_extent) / 2
    y = (belt.top + belt.bottom) / 2 + rng.uniform(-slack, slack)
    c, s = math.cos(best_angle), math.sin(best_angle)
    middle = (c * fp.center[0] - s * fp.center[1], s * fp.center[0] + c * fp.center[1])
    x -= middle[0]
    y -= middle[1]
    sheet = garment.kind == "sheet"
    radius = max(fp.half)
    n_ridges = int(rng.integers(10, 18) if sheet else rng.integers(4, 10))
    main = rng.uniform(0, math.pi)
    ridges = []
    for _ in range(n_ridges):
        r = radius * 0.8 * math.sqrt(rng.random())
        t = rng.uniform(0, 2 * math.pi)
        width = rng.uniform(12, 34 if sheet else 26) * unit
        ridges.append(
            (
                middle[0] + r * math.cos(t),
                middle[1] + r * math.sin(t),
                main + float(rng.normal(0, 0.7)),
                rng.uniform(0.25, 0.8) * radius,
                width,
                float(rng.choice([-1.0, 1.0])) * rng.uniform(0.3, 0.8) * width,
            )
        )
    return Item(
        garment=garment,
        center=(float(x), float(y)),
        box=(
            middle[0],
            middle[1],
            abs(c) * fp.half[0] + abs(s) * fp.half[1],
            abs(s) * fp.half[0] + abs(c) * fp.half[1],
        ),
        angle=best_angle,
        crumple=rng.uniform(5, 11) * unit if sheet else rng.uniform(4, 11) * unit,
        bumps=rng.uniform(8, 22) * unit,
        ridges=tuple(ridges),
        seed=int(rng.integers(2**32)),
    )


def render(scene: Scene, with_items: bool = True) -> Example:
    """Compose belt, item shadows and items, then light the whole photo and add sensor noise."""
    unit = scene.shape[0] / 720
    canvas = render_belt(scene.belt, scene.shape)
    instances = np.zeros(scene.shape, dtype=np.uint8)
    for index, item in enumerate(scene.items if with_items else (), start=1):
        drawn = _render_item(item, scene, unit)
        if drawn is None:
            continue
        (y0, x0), color, alpha = drawn
        _cast_shadow(canvas, alpha, (y0, x0), scene.light_dir, unit)
        h, w = alpha.shape
        region = canvas[y0 : y0 + h, x0 : x0 + w]
        region += (color - region) * alpha[..., None]
        instances[y0 : y0 + h, x0 : x0 + w][alpha >= 0.5] = index
    canvas *= light_gain(scene.lighting, scene.shape)[..., None]
    canvas *= np.asarray(scene.lighting.balance, dtype=np.float32)
    noise = grain(np.random.default_rng(scene.noise_seed), canvas.shape)
    image = np.clip(canvas * 255.0 + 2.2 * noise + 0.5, 0, 255).astype(np.uint8)
    mask = np.where(instances > 0, 255, 0).astype(np.uint8)
    return Example(image=image, mask=mask, instances=instances, scene=scene)


def without_items(scene: Scene) -> Scene:
    return replace(scene, items=())


def _render_item(
    item: Item, scene: Scene, unit: float
) -> tuple[tuple[int, int], np.ndarray, np.ndarray] | None:
    """Color and coverage of one item inside its bounding box, or None when off the belt."""
    height, width = scene.shape
    g = item.garment
    cx, cy = item.center
    mid_x, mid_y = cx + item.box[0], cy + item.box[1]
    margin = 4 * item.crumple + 12 * unit
    reach_x, reach_y = item.box[2] + margin, item.box[3] + margin
    x0, x1 = max(0, int(mid_x - reach_x)), min(width, int(mid_x + reach_x) + 1)
    y0 = max(scene.belt.top, int(mid_y - reach_y))
    y1 = min(scene.belt.bottom, int(mid_y + reach_y) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    shape = (y1 - y0, x1 - x0)
    rng = np.random.default_rng(item.seed)
    shift_x, shift_y, shade = _relief(item, (y0 - cy, x0 - cx), shape, scene.light_dir, unit, rng)
    warp_y = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy) + shift_y
    warp_x = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx) + shift_x
    c, s = math.cos(item.angle), math.sin(item.angle)
    a = c * warp_x + s * warp_y
    b = -s * warp_x + c * warp_y
    layered = cloth.fold(g, a, b, unit)
    alpha = np.clip(0.5 - layered.dist, 0.0, 1.0)
    if not alpha.any():
        return None

    contact = 1.0 - 0.3 * np.exp(np.minimum(layered.dist, 0.0) / (8.0 * unit))
    back = np.where(layered.flips % 2 == 1, np.float32(0.96), np.float32(1.0))
    texture = _fabric(rng, g.kind, shape, unit)
    value = shade * contact * layered.shadow * back * texture * cloth.seams(g, layered, unit)
    value *= 1.0 + 0.1 * layered.crease

    mix = cloth.print_mix(g, layered.a, layered.b)
    mix = np.where(layered.flips % 2 == 1, 0.8 * mix, mix)[..., None]
    color = np.asarray(g.color, np.float32)
    base = color + (np.asarray(g.pattern_color, np.float32) - color) * mix
    return (y0, x0), (base * value[..., None]).astype(np.float32), alpha.astype(np.float32)


def _relief(
    item: Item,
    offset: tuple[float, float],
    shape: Shape,
    light_dir: tuple[float, float, float],
    unit: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far crumpling pulls each pixel's cloth point (x, y), and the diffuse shading of
    the cloth's height field (soft bumps plus fold ridges) under ``light_dir``.

    Every field here is smooth, so it is built on a grid four times coarser and enlarged:
    the ridge sums are the costliest part of an item and this makes them 16 times cheaper.
    """
    step = 4
    low = (-(-shape[0] // step), -(-shape[1] // step))
    dy = (np.arange(low[0], dtype=np.float32) * step + offset[0])[:, None]
    dx = (np.arange(low[1], dtype=np.float32) * step + offset[1])[None, :]
    relief = item.bumps * smooth_noise(rng, low, (shape[0] / (260 * unit), shape[1] / (260 * unit)))
    for ox, oy, angle, length, ridge_w, lift in item.ridges:
        c, s = math.cos(angle), math.sin(angle)
        along = (dx - ox) * c + (dy - oy) * s
        across = (dy - oy) * c - (dx - ox) * s
        relief = relief + lift * np.exp(-((across / ridge_w) ** 2) - (along / length) ** 2)
    grad_y, grad_x = np.gradient(relief, float(step))

    coarse = (shape[0] / (150 * unit), shape[1] / (150 * unit))
    fine = (coarse[0] * 3, coarse[1] * 3)
    # Folds gather the cloth, pulling outlines and prints towards them; sheets gather most.
    pull = 2.25 if item.garment.kind == "sheet" else 1.5
    shifts = []
    for grad in (grad_x, grad_y):
        crumple = smooth_noise(rng, low, coarse) + 0.3 * smooth_noise(rng, low, fine)
        shifts.append(pull * grad + item.crumple * crumple)
    lx, ly, lz = light_dir
    diffuse = (lz - lx * grad_x - ly * grad_y) / (lz * np.sqrt(1.0 + grad_x**2 + grad_y**2))
    shade = np.clip(0.4 + 0.6 * diffuse, 0.3, 1.15)
    return tuple(enlarge(field, shape) for field in (*shifts, shade))


def _fabric(rng: np.random.Generator, kind: str, shape: Shape, unit: float) -> np.ndarray:
    """Fine weave: terry loops on towels, a faint grain elsewhere."""
    if kind == "towel":
        loops = blur(grain(rng, shape), 1.5 * unit)
        return 1.0 + 0.22 * loops + 0.03 * grain(rng, shape)
    return 1.0 + 0.02 * grain(rng, shape)


def _cast_shadow(
    canvas: np.ndarray,
    alpha: np.ndarray,
    origin: tuple[int, int],
    light_dir: tuple[float, float, float],
    unit: float,
) -> None:
    """Darken what lies under the item, offset away from the light and softened."""
    height, width = canvas.shape[:2]
    soft = blur(alpha, 14 * unit)
    dy = round(-light_dir[1] * 12 * unit)
    dx = round(-light_dir[0] * 12 * unit)
    y0, x0 = origin[0] + dy, origin[1] + dx
    h, w = soft.shape
    top, left = max(0, y0), max(0, x0)
    bottom, right = min(height, y0 + h), min(width, x0 + w)
    if bottom <= top or right <= left:
        return
    patch = soft[top - y0 : bottom - y0, left - x0 : right - x0]
    canvas[top:bottom, left:right] *= (1.0 - 0.5 * patch)[..., None]


def make_example(seed: int, index: int, cfg: LaundryConfig) -> Example:
    """Image ``index`` of the data set with ``seed``: the same pair always gives the same photo."""
    rng = np.random.default_rng([seed, index])
    return render(sample_scene(rng, cfg))
