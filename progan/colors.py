"""Color classes of images, color prototypes in latent space, and the color shift they allow.

Classifier
----------
:func:`class_of_images` names each image ``red``, ``green``, ``blue``, ``white`` or ``none`` from
the hue and saturation of its laundry pixels. Generated images come without masks, so laundry is
told from the belt pixel by pixel: the belt is grey (low saturation) and never bright, whereas an
item is saturated or bright. A pixel is

- *colored* when its saturation and value reach ``colored_min_saturation`` and
  ``colored_min_value`` (dark pixels are left out: their hue is noise); it belongs to red, green
  or blue when its hue lies within ``hue_half_width`` of that color's hue in ``COLOR_HUES``, and to
  no class otherwise (a yellow sock is laundry, but of no class);
- *white* when its value reaches ``white_min_value`` and its saturation stays at most
  ``white_max_saturation``;
- belt, shadow or background otherwise, and ignored.

Colored and white pixels are the laundry. An image whose laundry covers less than
``min_laundry_share`` of it is ``none`` (nothing to judge). Otherwise each class's share of the
laundry pixels is counted, and the largest wins when it reaches ``min_share`` and is at least
``dominance`` times the runner-up (the laundry project's rule: a color counts when its pixels
exceed a threshold share and dominate the others); a mix without such a winner is ``none``. The
thresholds are :class:`config.ColorClassifierConfig`.

Prototypes and shift
--------------------
The prototype ``p_c`` of a color is the mean of the first ``n`` sampled latents (seeds 0, 1, ...)
whose images are classified ``c``. Shifting a latent to color ``c`` is
``l_new = l_old − p_from + p_to`` with ``p_from`` the prototype of the class of ``l_old``'s own
image (``none`` and ``white`` images use the white prototype) and ``p_to = p_c``; the color
``original`` leaves latents alone. The prototypes live in ``prototypes.json`` beside the model's
weights (format in :meth:`Prototypes.to_json`) and load with it as ``g.prototypes``.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from skimage.color import rgb2hsv

from config import (
    COLOR_CLASSIFIER,
    COLOR_EVALUATION,
    COLOR_HUES,
    COLORS,
    LATENT_LIMITS,
    PROTOTYPES,
    SHIFT_METHOD,
    SHIFT_METHODS,
    ColorClassifierConfig,
    ColorEvaluationConfig,
)
from progan import files
from progan.errors import ProganError
from progan.export import COLORS_JSON, PROTOTYPES_JSON
from progan.latent import SEED_RECIPE, check_images, check_res, default_label, seed_latents

CLASSES: tuple[str, ...] = tuple(COLOR_HUES)
NONE = "none"
PROTOTYPES_FORMAT = 1
# Images classified per g.render call while sampling, so memory stays flat at large resolutions.
CLASSIFY_CHUNK = 64
# Images whose pixel classes are computed at once when judging a set (float64 HSV of each).
JUDGE_CHUNK = 512

# Where a boundary shift puts a latent: this quantile of the signed distances of the sampled
# latents of the color, deep inside it rather than at its typical (median) depth, so that the
# parts of the latent the boundary does not see are less likely to pull the image out again.
BOUNDARY_DEPTH = 0.9

# Pixel labels of :func:`pixel_classes` besides the indices into CLASSES.
BELT = -1
OTHER = len(CLASSES)


def check_color(color: str) -> str:
    if color not in COLORS:
        raise ProganError(f"color {color!r} is not one of {', '.join(COLORS)}")
    return color


# Classifier --------------------------------------------------------------------------------------


def pixel_classes(images: np.ndarray, cfg: ColorClassifierConfig = COLOR_CLASSIFIER) -> np.ndarray:
    """``N×H×W`` int8 labels: an index into :data:`CLASSES` for red, green, blue and white
    laundry, :data:`OTHER` for laundry of no class, :data:`BELT` for everything else."""
    hsv = rgb2hsv(check_images(images, min_count=0))
    hue, saturation, value = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    labels = np.full(hue.shape, BELT, np.int8)
    colored = (saturation >= cfg.colored_min_saturation) & (value >= cfg.colored_min_value)
    labels[colored] = OTHER
    for index, center in enumerate(COLOR_HUES.values()):
        if center is None:
            white = (value >= cfg.white_min_value) & (saturation <= cfg.white_max_saturation)
            labels[white] = index
        else:
            distance = np.abs(hue - center)
            distance = np.minimum(distance, 1 - distance)
            labels[colored & (distance <= cfg.hue_half_width)] = index
    return labels


def color_shares(
    images: np.ndarray, cfg: ColorClassifierConfig = COLOR_CLASSIFIER
) -> tuple[np.ndarray, np.ndarray]:
    """Per image: each class's share of the laundry pixels (``N×len(CLASSES)``, in the order of
    :data:`CLASSES`) and the laundry's share of all pixels (``N``)."""
    labels = pixel_classes(images, cfg).reshape(len(images), -1)
    laundry = (labels != BELT).sum(axis=1)
    counts = np.stack([(labels == index).sum(axis=1) for index in range(len(CLASSES))], axis=1)
    shares = counts / np.maximum(laundry, 1)[:, None]
    return shares, laundry / labels.shape[1]


def class_of_images(images: np.ndarray, cfg: ColorClassifierConfig = COLOR_CLASSIFIER) -> list[str]:
    """The class of each ``N×H×W×3`` uint8 image: one of :data:`CLASSES` or ``'none'``."""
    return class_of_shares(*color_shares(images, cfg), cfg)


def class_of_shares(
    shares: np.ndarray, laundry: np.ndarray, cfg: ColorClassifierConfig = COLOR_CLASSIFIER
) -> list[str]:
    """The class each image's :func:`color_shares` make it (the classifier's decision rule)."""
    order = np.argsort(shares, axis=1)
    best, second = order[:, -1], order[:, -2]
    rows = np.arange(len(shares))
    top, runner_up = shares[rows, best], shares[rows, second]
    wins = (
        (laundry >= cfg.min_laundry_share)
        & (top >= cfg.min_share)
        & (top >= cfg.dominance * runner_up)
    )
    return [CLASSES[b] if win else NONE for b, win in zip(best, wins, strict=True)]


def class_of_latents(
    g: Any,
    latents: np.ndarray,
    res: str,
    cfg: ColorClassifierConfig = COLOR_CLASSIFIER,
    color: str | None = None,
) -> list[str]:
    """Render and classify ``latents`` chunk by chunk, keeping no image longer than needed.

    ``color`` asks a conditional model for that class; an unconditional model renders the
    latents as they are, and a conditional one without a color draws its default class.
    """
    labels = default_label(g) if color is None else color_label(g, color)
    return [
        name
        for start in range(0, len(latents), CLASSIFY_CHUNK)
        for name in class_of_images(
            g.render(latents[start : start + CLASSIFY_CHUNK], res, labels=labels), cfg
        )
    ]


# Prototypes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Boundary:
    """One color's side of the latent space (InterFaceGAN): the unit normal ``n`` and bias ``b``
    of a logistic-regression hyperplane, so that ``n·z + b`` is a latent's signed distance
    (positive: the color), and ``target``, a deep distance among the sampled latents of that
    color (:data:`BOUNDARY_DEPTH`), where a shift puts a latent."""

    normal: np.ndarray
    bias: float
    target: float

    def to_json(self) -> dict[str, Any]:
        return {"normal": self.normal.tolist(), "bias": self.bias, "target": self.target}

    @classmethod
    def from_json(cls, data: dict[str, Any], dim: int) -> Boundary:
        normal = np.asarray(data["normal"], dtype=np.float32)
        if normal.shape != (dim,) or not np.all(np.isfinite(normal)):
            raise ValueError(f"a boundary normal is not {dim} finite numbers")
        return cls(normal, float(data["bias"]), float(data["target"]))

    def distance(self, latents: np.ndarray) -> np.ndarray:
        return latents @ self.normal + self.bias


def fit_boundary(latents: np.ndarray, inside: np.ndarray, l2: float = 1.0) -> Boundary:
    """L2-regularised logistic regression of ``inside`` (bool per latent) on the latents, by
    Newton's method (a 129×129 solve per step for latents of 128: exact, deterministic and fast
    for the few thousand latents the prototype step samples)."""
    x = np.hstack([np.asarray(latents, np.float64), np.ones((len(latents), 1))])
    y = np.asarray(inside, np.float64)
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    w = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - y) + penalty * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    norm = np.linalg.norm(w[:-1])
    normal, bias = w[:-1] / norm, w[-1] / norm
    target = float(np.quantile(latents[inside] @ normal + bias, BOUNDARY_DEPTH))
    return Boundary(normal.astype(np.float32), float(bias), target)


@dataclass(frozen=True)
class Prototypes:
    """The color prototypes of one model, and how they were made and how well they shift."""

    res: str
    n: int
    vectors: dict[str, np.ndarray]
    counts: dict[str, int]
    sample_seeds: range
    sampled_classes: dict[str, int]
    classifier: dict[str, float]
    success_rates: dict[str, float] | None = None
    success_seeds: range | None = None
    # The InterFaceGAN-style alternative, fitted on the same sampled latents (None in files
    # written before it existed), and its success on the same seeds.
    boundaries: dict[str, Boundary] | None = None
    boundary_success_rates: dict[str, float] | None = None

    def rates(self, method: str) -> dict[str, float] | None:
        """The measured success of ``method`` per color, None when not measured (``best`` takes
        the higher of the two for each color)."""
        if method == "best":
            pair = self.success_rates, self.boundary_success_rates
            if None in pair:
                return self.success_rates
            return {color: max(pair[0][color], pair[1][color]) for color in CLASSES}
        return self.boundary_success_rates if method == "boundary" else self.success_rates

    @property
    def latent_dim(self) -> int:
        return len(next(iter(self.vectors.values())))

    def to_json(self) -> dict[str, Any]:
        """The content of ``prototypes.json``; seed ranges are ``{"start", "count"}``."""
        return {
            "format": PROTOTYPES_FORMAT,
            "seed_recipe": SEED_RECIPE,
            "latent_dim": self.latent_dim,
            "res": self.res,
            "n": self.n,
            "sample_seeds": _range_to_json(self.sample_seeds),
            "sampled_classes": self.sampled_classes,
            "classifier": self.classifier,
            "prototypes": {
                color: {"count": self.counts[color], "vector": self.vectors[color].tolist()}
                for color in CLASSES
            },
            "success": None
            if self.success_rates is None
            else {
                "seeds": _range_to_json(self.success_seeds),
                "rates": self.success_rates,
                "boundary_rates": self.boundary_success_rates,
            },
            "boundaries": None
            if self.boundaries is None
            else {color: boundary.to_json() for color, boundary in self.boundaries.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prototypes:
        if data.get("format") != PROTOTYPES_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {PROTOTYPES_FORMAT}")
        dim = int(data["latent_dim"])
        vectors = {}
        for color in CLASSES:
            vector = np.asarray(data["prototypes"][color]["vector"], dtype=np.float32)
            if vector.shape != (dim,) or not np.all(np.isfinite(vector)):
                raise ValueError(f"the {color} prototype is not {dim} finite numbers")
            vectors[color] = vector
        success = data.get("success")
        boundaries = data.get("boundaries")
        boundary_rates = (success or {}).get("boundary_rates")
        return cls(
            res=str(data["res"]),
            n=int(data["n"]),
            vectors=vectors,
            counts={color: int(data["prototypes"][color]["count"]) for color in CLASSES},
            sample_seeds=_range_from_json(data["sample_seeds"]),
            sampled_classes={k: int(v) for k, v in data["sampled_classes"].items()},
            classifier=dict(data["classifier"]),
            success_rates=None
            if success is None
            else {color: float(success["rates"][color]) for color in CLASSES},
            success_seeds=None if success is None else _range_from_json(success["seeds"]),
            boundaries=None
            if boundaries is None
            else {color: Boundary.from_json(boundaries[color], dim) for color in CLASSES},
            boundary_success_rates=None
            if boundary_rates is None
            else {color: float(boundary_rates[color]) for color in CLASSES},
        )


def _range_to_json(seeds: range) -> dict[str, int]:
    return {"start": seeds.start, "count": len(seeds)}


def _range_from_json(data: dict[str, Any]) -> range:
    return range(int(data["start"]), int(data["start"]) + int(data["count"]))


def compute_prototypes(
    g: Any,
    n: int = PROTOTYPES.n,
    res: str | None = None,
    max_samples: int = PROTOTYPES.max_samples,
    cfg: ColorClassifierConfig = COLOR_CLASSIFIER,
) -> Prototypes:
    """Sample seeds 0, 1, ... until each color has ``n`` latents or ``max_samples`` seeds are
    used; each prototype is the mean of its color's latents (fewer than ``n`` if the model
    seldom draws it). A color never drawn cannot be shifted to, so it is an error."""
    check_has_colors(g)
    res = check_res(g, res)
    if n < 1 or max_samples < 1:
        raise ProganError(f"n and the sample count must be positive, got {n} and {max_samples}")
    found: dict[str, list[np.ndarray]] = {color: [] for color in CLASSES}
    sampled: Counter[str] = Counter()
    all_latents, all_classes = [], []
    stop = 0
    while stop < max_samples and any(len(found[color]) < n for color in CLASSES):
        seeds = range(stop, min(stop + CLASSIFY_CHUNK, max_samples))
        latents = seed_latents(seeds, g.latent_dim)
        names = class_of_latents(g, latents, res, cfg)
        for latent, name in zip(latents, names, strict=True):
            sampled[name] += 1
            if name != NONE and len(found[name]) < n:
                found[name].append(latent)
        all_latents.append(latents)
        all_classes += names
        stop = seeds.stop
    missing = [color for color in CLASSES if not found[color]]
    if missing:
        raise ProganError(
            f"no image of {stop} sampled at {res} was classified {' or '.join(missing)} "
            f"(found {_counts_text(sampled)}); the model cannot be shifted to that color"
        )
    return Prototypes(
        res=res,
        n=n,
        vectors={
            c: np.mean(found[c], axis=0, dtype=np.float64).astype(np.float32) for c in CLASSES
        },
        counts={color: len(found[color]) for color in CLASSES},
        sample_seeds=range(stop),
        sampled_classes={name: sampled[name] for name in (*CLASSES, NONE)},
        classifier=dataclasses.asdict(cfg),
        boundaries={
            color: fit_boundary(np.concatenate(all_latents), np.array(all_classes) == color)
            for color in CLASSES
        },
    )


def measure_success(
    g: Any,
    prototypes: Prototypes,
    seeds: Sequence[int],
    cfg: ColorClassifierConfig = COLOR_CLASSIFIER,
    method: str = "prototype",
) -> dict[str, float]:
    """For each color, the share of ``seeds`` whose shifted image is classified as that color.

    Every seed counts for every color, including seeds already of that color (their shift is
    zero), so the rate answers the user's question: pick any seed and a color, how often does
    the picture come out in that color?
    """
    latents = seed_latents(seeds, g.latent_dim)
    classes = class_of_latents(g, latents, prototypes.res, cfg)
    rates = {}
    for color in CLASSES:
        shifted = shift_latents(latents, classes, color, prototypes, method)
        hits = sum(name == color for name in class_of_latents(g, shifted, prototypes.res, cfg))
        rates[color] = hits / len(latents)
    return rates


def with_success(
    g: Any,
    prototypes: Prototypes,
    count: int = PROTOTYPES.success_seeds,
    start: int = PROTOTYPES.success_seed_start,
    cfg: ColorClassifierConfig = COLOR_CLASSIFIER,
) -> Prototypes:
    """``prototypes`` with the success rate measured over ``count`` seeds from ``start``."""
    if count < 1:
        raise ProganError(f"the success rate needs at least one seed, got {count}")
    seeds = range(start, start + count)
    rates = measure_success(g, prototypes, seeds, cfg)
    boundary = (
        None
        if prototypes.boundaries is None
        else measure_success(g, prototypes, seeds, cfg, "boundary")
    )
    return dataclasses.replace(
        prototypes, success_rates=rates, success_seeds=seeds, boundary_success_rates=boundary
    )


def save_prototypes(g: Any, prototypes: Prototypes) -> Path:
    """Write ``prototypes.json`` into the model's folder and give it to ``g``.

    Written through :mod:`progan.files`: a studio loading the model meanwhile reads either the
    old prototypes or the new, never half a file. ``g.prototypes`` is updated too, so
    the process that computed them can shift colors without reloading the network.
    """
    if prototypes.latent_dim != g.latent_dim:
        raise ProganError(
            f"prototypes of size {prototypes.latent_dim} do not fit a model of size {g.latent_dim}"
        )
    data = prototypes.to_json()
    target = files.write_json(Path(g.path) / PROTOTYPES_JSON, data)
    g.prototypes = data
    return target


def check_has_colors(g: Any) -> None:
    """Colors need a color model: a grey one (1 channel) refuses in one line, before any work."""
    if getattr(g, "channels", 3) == 1:
        raise ProganError(
            f"the model in {g.path} is grey (1 channel): it draws no colors, so color shifts, "
            "prototypes and color classes do not apply to it"
        )


def load_prototypes(g: Any) -> Prototypes:
    """The prototypes that came with ``g`` (``g.prototypes``), checked against the model."""
    check_has_colors(g)
    if g.prototypes is None:
        raise ProganError(
            f"the model in {g.path} has no color prototypes; "
            f"compute them with: python -m progan prototypes --model {g.path}"
        )
    try:
        prototypes = Prototypes.from_json(g.prototypes)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ProganError(
            f"{PROTOTYPES_JSON} of the model in {g.path} is malformed: {err}"
        ) from err
    if prototypes.latent_dim != g.latent_dim:
        raise ProganError(
            f"{PROTOTYPES_JSON} in {g.path} has latents of size {prototypes.latent_dim}, "
            f"the model {g.latent_dim}; recompute them"
        )
    return prototypes


# Shift -------------------------------------------------------------------------------------------


def source_prototype(name: str) -> str:
    """Which prototype a latent of class ``name`` leaves: its own, or white for none and white."""
    return "white" if name in (NONE, "white") else name


def check_method(method: str) -> str:
    if method not in SHIFT_METHODS:
        raise ProganError(f"method {method!r} is not one of {', '.join(SHIFT_METHODS)}")
    return method


def resolve_method(prototypes: Prototypes, color: str, method: str) -> str:
    """``prototype`` or ``boundary``: ``best`` is the one whose measured success for ``color``
    is higher (the prototype where the boundary was never fitted or measured)."""
    if check_method(method) != "best":
        return method
    boundary = prototypes.rates("boundary")
    prototype = prototypes.rates("prototype")
    if boundary is None or prototype is None or prototype[color] >= boundary[color]:
        return "prototype"
    return "boundary"


def shift_latents(
    latents: np.ndarray,
    classes: Sequence[str],
    color: str,
    prototypes: Prototypes,
    method: str = "prototype",
) -> np.ndarray:
    """Each latent moved to ``color``.

    ``prototype``: ``l − p_from + p_to``, ``p_from`` chosen by its image's class (``classes``).
    ``boundary``: ``l + (t − n·l − b)·n``, along the color's hyperplane normal to the depth
    ``t`` inside the color; the latent's own class does not matter. ``best``: whichever of the
    two measured the higher success rate for this color.
    """
    latents = np.asarray(latents, dtype=np.float32)
    if check_color(color) == "original":
        return latents.copy()
    if resolve_method(prototypes, color, method) == "boundary":
        if prototypes.boundaries is None:
            raise ProganError(
                "these prototypes have no color boundaries; recompute them with "
                "python -m progan prototypes"
            )
        boundary = prototypes.boundaries[color]
        step = boundary.target - boundary.distance(latents)
        return (latents + step[:, None] * boundary.normal).astype(np.float32)
    sources = np.stack([prototypes.vectors[source_prototype(name)] for name in classes])
    return (latents - sources + prototypes.vectors[color]).astype(np.float32)


def color_label(g: Any, color: str) -> str | None:
    """The class that draws ``color`` on a conditional model; None on an unconditional one."""
    check_color(color)
    if not g.classes:
        return None
    if color not in g.classes:
        raise ProganError(
            f"color {color!r} is not a class of this conditional model; "
            f"it draws {', '.join(g.classes)}"
        )
    return color


def render_in_color(
    g: Any,
    latents: np.ndarray,
    res: str,
    color: str,
    prototypes: Prototypes | None = None,
    method: str = SHIFT_METHOD,
) -> np.ndarray:
    """Render ``latents`` in ``color``, the one way the CLI, the studio and ``evaluate`` ask.

    A conditional model draws the color as its class label, so the latent (the item) stays as
    it is; an unconditional model has no label to take and gets its latents shifted by the
    color prototypes instead.
    """
    if g.classes:
        return g.render(latents, res, labels=color_label(g, color))
    return g.render(color_latents(g, latents, color, prototypes, method), res)


def color_latents(
    g: Any,
    latents: np.ndarray,
    color: str,
    prototypes: Prototypes | None = None,
    method: str = SHIFT_METHOD,
) -> np.ndarray:
    """``latents`` shifted to ``color``, each judged by its image at the prototypes' resolution.

    Classifying at that fixed resolution, not at the one displayed, gives a seed the same
    shift, and so the same picture, at every size. The boundary shift needs no classes.
    """
    if check_color(color) == "original":
        return np.asarray(latents, dtype=np.float32)
    prototypes = prototypes or load_prototypes(g)
    if resolve_method(prototypes, color, method) == "boundary":
        return shift_latents(latents, [], color, prototypes, "boundary")
    return shift_latents(latents, class_of_latents(g, latents, prototypes.res), color, prototypes)


def render_seeds(
    g: Any,
    seeds: int | Iterable[int],
    res: str | None = None,
    color: str = "original",
    method: str = SHIFT_METHOD,
) -> np.ndarray:
    """``N×H×W×3`` uint8 images of ``seeds`` at ``res`` (None: the largest) in ``color``."""
    seed_list = [seeds] if isinstance(seeds, (int, np.integer)) else list(seeds)
    if not 1 <= len(seed_list) <= LATENT_LIMITS.max_seeds:
        raise ProganError(f"give 1 to {LATENT_LIMITS.max_seeds} seeds, got {len(seed_list)}")
    res = check_res(g, res)
    return render_in_color(g, seed_latents(seed_list, g.latent_dim), res, color, method=method)


# Evaluation --------------------------------------------------------------------------------------


def multicolored(shares: np.ndarray, laundry: np.ndarray, cfg: ColorEvaluationConfig) -> np.ndarray:
    """Per image: its laundry is of two color classes, each at least the configured share."""
    two = np.sort(shares, axis=1)[:, -2:]
    return (laundry >= COLOR_CLASSIFIER.min_laundry_share) & (
        two.min(axis=1) >= cfg.multicolor_min_share
    )


def luminance(images: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of uint8 RGB images, as float64 in [0, 255]."""
    return images.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def mean_pair_ssim(versions: list[np.ndarray]) -> float:
    """SSIM of the luminance of every pair among ``versions`` (``K×H×W×3`` uint8 arrays, one
    per color, aligned image by image), averaged over pairs and images."""
    from skimage.metrics import structural_similarity

    side = min(versions[0].shape[1:3])
    window = min(7, side - (side + 1) % 2)  # skimage's 7×7, or the largest odd side that fits
    lumas = [luminance(v) for v in versions]
    return float(
        np.mean(
            [
                structural_similarity(a[k], b[k], data_range=255.0, win_size=window)
                for i, a in enumerate(lumas)
                for b in lumas[i + 1 :]
                for k in range(len(a))
            ]
        )
    )


def data_shape_ssim(images: np.ndarray, groups: list[np.ndarray], count: int = 200) -> float:
    """The shape-SSIM ceiling a data set sets: each photo against its own recolored versions
    (``groups`` of indices into ``images``), over ``count`` photos spread through the set."""
    chosen = [g for g in groups[:: max(1, len(groups) // count)] if len(g) == len(groups[0])]
    return mean_pair_ssim(
        [np.asarray(images[[g[j] for g in chosen]]) for j in range(len(chosen[0]))]
    )


def judge_colors(
    images: np.ndarray, color: str, cfg: ColorEvaluationConfig = COLOR_EVALUATION
) -> tuple[float, np.ndarray]:
    """The share of ``images`` the classifier calls ``color``, and per image whether it is
    multi-colored: the pixel classes once for both figures, a chunk at a time so that a whole
    data set's class fits in memory."""
    parts = [color_shares(images[i : i + JUDGE_CHUNK]) for i in range(0, len(images), JUDGE_CHUNK)]
    shares = np.concatenate([part[0] for part in parts])
    laundry = np.concatenate([part[1] for part in parts])
    accuracy = float(np.mean(np.array(class_of_shares(shares, laundry)) == color))
    return accuracy, multicolored(shares, laundry, cfg)


def data_color_report(
    images: np.ndarray, names: list[str], cfg: ColorEvaluationConfig = COLOR_EVALUATION
) -> dict[str, float]:
    """:func:`color_report`'s accuracy and multi-colored share on a labeled data set's own
    images (``names``: each image's class): the classifier judges the data as it judges a
    model, so these are the figures a model trained on the data can be held to."""
    names_array = np.asarray(names)
    report: dict[str, float] = {}
    mixed = []
    for color in CLASSES:
        chosen = np.flatnonzero(names_array == color)
        if len(chosen):
            report[f"accuracy_data_{color}"], two = judge_colors(images[chosen], color, cfg)
            mixed.append(two)
    if mixed:
        report["multicolored_data"] = float(np.mean(np.concatenate(mixed)))
    return report


def color_report(
    g: Any,
    res: str | None = None,
    method: str = SHIFT_METHOD,
    prototypes: Prototypes | None = None,
    cfg: ColorEvaluationConfig = COLOR_EVALUATION,
) -> dict[str, float]:
    """Accuracy per color, multi-colored share and shape SSIM across colors (see
    :class:`config.ColorEvaluationConfig`), on ``cfg.seeds`` seeds, for either kind of model."""
    res = check_res(g, res)
    if not g.classes:
        prototypes = prototypes or load_prototypes(g)
    seeds = range(cfg.seed_start, cfg.seed_start + cfg.seeds)
    latents = seed_latents(seeds, g.latent_dim)
    drawn = {
        color: np.concatenate(
            [
                render_in_color(g, latents[i : i + CLASSIFY_CHUNK], res, color, prototypes, method)
                for i in range(0, len(latents), CLASSIFY_CHUNK)
            ]
        )
        for color in COLORS
    }
    report: dict[str, float] = {}
    mixed = []
    for color in CLASSES:
        report[f"accuracy_{color}"], two = judge_colors(drawn[color], color, cfg)
        mixed.append(two)
        report[f"multicolored_{color}"] = float(two.mean())
    report["multicolored"] = float(np.mean(np.concatenate(mixed)))
    report["shape_ssim"] = mean_pair_ssim([drawn[color] for color in COLORS])
    return report


def save_color_figures(g: Any, figures: dict[str, Any]) -> Path:
    """Keep ``evaluate``'s color figures beside the model (``colors.json``), where the studio
    shows them: a conditional model has no prototypes to carry its measured accuracy."""
    return files.write_json(Path(g.path) / COLORS_JSON, figures)


def read_color_figures(folder: str | Path) -> dict[str, Any] | None:
    """The figures :func:`save_color_figures` wrote, or None (never evaluated, or unreadable)."""
    try:
        return json.loads((Path(folder) / COLORS_JSON).read_text())
    except (OSError, ValueError):
        return None


def _counts_text(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {counts[name]}" for name in (*CLASSES, NONE))
