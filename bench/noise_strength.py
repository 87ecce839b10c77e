"""How much of the finest level's SWD is the strength of the noise inputs? Training on from the
shipped model moved its 160x96 SWD away at every chunk end, on every recipe tried, while the
moving average carried the top stage's noise strength toward the live generator's, twice its
own; this measures that one knob with everything else held.

    python bench/noise_strength.py [--model checkpoints] [--scales 0,0.5,1,1.5,2] [--n 4096]
                                   [--data laundry-recolored] [--first-seed 0]

Each scale multiplies the noise strengths of the export's top stage (a copy of its weights in a
temporary folder; the export is not touched), and the copy renders the same seeds as
``python -m progan evaluate`` does against the same reals: at scale 1 the row is evaluate's
SWD. The table gives SWD ×1e3 per pyramid level and its average, each as a ratio to the
reals-vs-reals floor, and the top stage's mean strength.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from progan.cli import Parser, count, run, whole_number  # noqa: E402
from progan.errors import ProganError  # noqa: E402


def scale_list(text: str) -> list[float]:
    try:
        scales = [float(part) for part in text.split(",")]
    except ValueError:
        scales = []
    if not scales or not all(0 <= s < float("inf") for s in scales):
        raise ValueError(text)
    return scales


scale_list.__name__ = "list of scales (0 or more, comma-separated)"


def build_parser() -> Parser:
    p = Parser(prog="bench/noise_strength.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(REPO / "checkpoints"), help="export with noise inputs")
    p.add_argument("--scales", type=scale_list, default=[0, 0.5, 1, 1.5, 2])
    p.add_argument("--n", type=count(2), default=4096, help="generated images (reals: twice)")
    p.add_argument("--data", default="laundry-recolored", help="image folder or named data set")
    p.add_argument("--data-root", default=str(REPO / "data"))
    p.add_argument("--first-seed", type=whole_number(0), default=0)
    return p


def scaled_copy(folder: Path, into: Path, top: str, scale: float) -> tuple[Path, float]:
    """The export at ``folder`` with the noise strengths named ``top…`` times ``scale``, and
    their mean absolute value in the copy."""
    from progan.export import WEIGHTS

    copy = into / f"x{scale:g}"
    shutil.copytree(folder, copy)
    with np.load(copy / WEIGHTS) as archive:
        weights = dict(archive)
    scaled = []
    for key, array in weights.items():
        if key.startswith(top):
            weights[key] = (array.astype(np.float32) * scale).astype(array.dtype)
            scaled.append(weights[key].astype(np.float32).ravel())
    np.savez(copy / WEIGHTS, **weights)
    return copy, float(np.mean(np.abs(np.concatenate(scaled))))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from progan import metrics
    from progan.evaluation import evaluation_reals, evaluation_seeds, load_model, render_seeds
    from progan.export import MODEL_JSON, resolve_export_dir
    from progan.resolution import parse_res

    folder = resolve_export_dir(args.model)
    meta = json.loads((folder / MODEL_JSON).read_text())
    if not meta["network"].get("noise_inputs"):
        raise ProganError(f"{folder} has no noise inputs (a run trained with --noise-inputs has)")
    top = f"block{meta['stages'] - 1}_noise"
    g = load_model(str(folder))
    res = g.resolutions[-1]
    if min(parse_res(res)) < metrics.PATCH:
        raise ProganError(
            f"{folder} renders {res}, too small for SWD's {metrics.PATCH}-pixel patches"
        )
    _, _, reals = evaluation_reals(g, res, args.data, Path(args.data_root), args.n)
    n = len(reals) // 2
    seeds = evaluation_seeds(args.first_seed, n)
    floor = metrics.swd(reals[:n], reals[n : 2 * n])
    levels = [f"SWD {metrics.level_name(res, k)}" for k in range(len(floor) - 1)]
    print(f"{folder} at {res}: seeds {seeds[0]}-{seeds[-1]} against {2 * n} of {args.data}")
    print(f"| scale | {top}* mean | " + " | ".join([*levels, "SWD avg"]) + " |")
    print("|---:|---:|" + "---:|" * (len(levels) + 1))
    print("| floor | | " + " | ".join(f"{v:.2f}" for v in floor) + " |")
    with tempfile.TemporaryDirectory() as temporary:
        for scale in args.scales:
            copy, strength = scaled_copy(folder, Path(temporary), top, scale)
            values = metrics.swd(render_seeds(load_model(str(copy)), seeds, res), reals[:n])
            cells = [f"{v:.2f} ({v / low:.2f}×)" for v, low in zip(values, floor, strict=True)]
            print(f"| {scale:g} | {strength:.4f} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    run(main)
