"""What ``python -m progan evaluate`` and the benches measure a generator with: the data's
images to compare against, the seeds and their balanced rendering, and the kind and color
figures, in one place so that a bench's numbers are ``evaluate``'s numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from config import COLOR_EVALUATION
from progan import colors, latent
from progan.errors import ProganError
from progan.export import COLORS_JSON
from progan.quiet import import_backend


def load_model(path: str | None) -> Any:
    """The generator at ``path`` (None: the shipped model); a broken folder is a user error.

    TensorFlow's C++ start-up chatter is quieted (as ``train.py`` does) so that an error stays
    the last line a user reads.
    """
    import_backend()
    from progan import load_generator

    try:
        return load_generator(path)
    except (OSError, ValueError) as err:
        raise ProganError(f"cannot read the model in {path or 'checkpoints/'}: {err}") from err


def evaluation_reals(g: Any, res: str, data: str, data_root: Path, n: int) -> tuple:
    """The data set, its cache and 2·n of its images at ``res`` (fewer if it has fewer): half
    to measure the generated images against, half for the reals-vs-reals floor."""
    from progan import metrics
    from progan.data import build_cache, open_source
    from progan.resolution import parse_res

    source = open_source(data, data_root)
    cache = build_cache(source, [parse_res(r) for r in g.resolutions], data_root / "cache")
    # in the model's channels: a grey model is measured against the data in grey
    reals = metrics.sample_reals(cache.images(parse_res(res), g.channels), 2 * n)
    if len(reals) < 4:
        raise ProganError(
            f"{source.name} has {len(reals)} readable images; evaluate needs at least 4 "
            "(half against the generated images, half for the floor)"
        )
    return source, cache, reals


def evaluation_seeds(first_seed: int, n: int) -> range:
    """The seeds of ``n`` generated images from ``first_seed``, all of them valid seeds."""
    seeds = range(first_seed, first_seed + n)
    if seeds[-1] >= latent.SEED_LIMIT:
        raise ProganError(
            f"--first-seed {first_seed} with --n {n} runs past the last seed "
            f"{latent.SEED_LIMIT - 1}; start at most at {latent.SEED_LIMIT - n}"
        )
    return seeds


def render_seeds(g: Any, seeds: range, res: str) -> np.ndarray:
    """One image per seed; a conditional model draws its classes in turn, as it was trained
    (balanced)."""
    labels = np.arange(len(seeds)) % len(g.classes) if g.classes else None
    return g.render(latent.seed_latents(seeds, g.latent_dim), res, labels=labels)


def kind_figures(
    source: Any, cache: Any, g: Any, res: str, fakes: np.ndarray, reals: np.ndarray
) -> dict[str, Any]:
    """Print and return what the kind classifier sees in fakes and reals, on laundry data."""
    from progan import kinds
    from progan.resolution import parse_res

    shown = kinds.kinds_of_source(source)
    if shown is None:
        return {}
    stages = [parse_res(r) for r in g.resolutions]
    shape = kinds.classifier_res(stages, parse_res(res))
    classifier = kinds.cached_classifier(source, shown, cache, shape)
    figures = kinds.kind_figures(classifier, latent.as_rgb(fakes), latent.as_rgb(reals))
    print(kinds.format_kinds(figures, shape))
    return figures


def color_figures(g: Any, res: str, method: str) -> dict[str, Any]:
    """Print and return what ``evaluate`` measures of colors (the same seeds for every model)."""
    report = colors.color_report(g, res, method)
    how = "class label" if g.classes else f"{method} shift"
    cfg = COLOR_EVALUATION
    print(
        f"colors by {how} over {cfg.seeds} seeds from {cfg.seed_start} "
        f"(multi-colored: two color classes of >= {cfg.multicolor_min_share:.0%} of the laundry):"
    )
    print("  color   accuracy  multi-colored")
    for color in colors.CLASSES:
        print(
            f"  {color:<6} {report[f'accuracy_{color}']:9.1%} "
            f"{report[f'multicolored_{color}']:14.1%}"
        )
    print(f"  all {report['multicolored']:27.1%}")
    print(
        f"shape kept across colors (luminance SSIM, mean of 10 color pairs): "
        f"{report['shape_ssim']:.3f}"
    )
    figures = {"color_method": "label" if g.classes else method, "res": res, **report}
    # An unconditional model's studio rates come from its prototypes.json; the studio renders
    # at the top resolution, so figures measured below it must not replace that one's.
    if g.classes:
        top = g.resolutions[-1]
        if res == top:
            written = colors.save_color_figures(g, figures)
            print(f"wrote {written} (the studio shows these accuracies)")
        else:
            kept = Path(g.path) / COLORS_JSON
            print(f"kept {kept}: the studio shows the figures at {top}")
    return figures
