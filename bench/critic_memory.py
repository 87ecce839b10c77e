"""Does the critic know its training images by heart? A long run on a small data set ends with a
critic that scores the photos it was trained on above new photos of the same kind; the
generator is then pulled toward those photos, and more training stops paying.

    python bench/critic_memory.py [--model checkpoints] [--n 512] [--label original]
                                  [--reals FOLDER] [--fresh FOLDER] [--runs ~/runs/critic-memory]

The critic of an export's training state scores N of the images it was trained on, N images of
the same kind it never saw, and N fakes of the export's EMA generator, at the export's top
resolution (images padded and scaled as the training cache does, labelled ``--label`` when the
model is conditional). The table gives each set's mean score, and the gap between the training
and the new images as a share of the gap between the training images and the fakes: 0 when the
critic treats new photos as it treats its own, 1 when it finds them as fake as the fakes.

On the laundry sets the training images are the originals under ``--data-root`` and the new ones
the same generator's photos of another seed (``--fresh-seed``), rendered once under ``--runs``.
For other data give both folders.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from progan.cli import Parser, count, run, whole_number  # noqa: E402
from progan.errors import ProganError  # noqa: E402

LAUNDRY_SETS = ("laundry", "laundry-recolored")
BATCH = 16  # the critic's minibatch-stddev groups see images of one set only


def build_parser() -> Parser:
    p = Parser(prog="bench/critic_memory.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="checkpoints", help="export with a training state")
    p.add_argument("--n", type=count(BATCH), default=512, help="images of each set")
    p.add_argument("--label", help="class of every image, for a conditional model")
    p.add_argument("--reals", help="images the model was trained on (laundry: its originals)")
    p.add_argument("--fresh", help="images of the same kind it never saw (laundry: rendered)")
    p.add_argument("--data-root", default=str(REPO / "data"), help="where the laundry set lives")
    p.add_argument("--fresh-seed", type=whole_number(0), default=4242)
    p.add_argument("--runs", default=str(Path.home() / "runs" / "critic-memory"))
    return p


def load_critic(folder: Path):
    """The export's critic with the weights of its training state, and what it was trained on."""
    from progan.discriminator import Discriminator
    from progan.export import MODEL_JSON, network_from_json, read_training_state

    meta = json.loads((folder / MODEL_JSON).read_text())
    state = read_training_state(folder)
    critic = Discriminator(network_from_json(meta["network"]), int(meta["stages"]))
    for variable in critic.weights:
        variable.assign(state[f"discriminator/{variable.path}"].astype(np.float32))
    return critic, meta


def read_images(folder: str | Path, n: int, shape: tuple[int, int]) -> np.ndarray:
    """The first ``n`` images of ``folder`` (sorted by name), as the training cache holds them."""
    from progan.data import FolderSource, fit_to

    images = []
    for image in FolderSource(folder).images():
        images.append(fit_to(image, shape))
        if len(images) == n:
            return np.stack(images)
    raise ProganError(f"{folder} holds {len(images)} readable images; --n asks for {n}")


def laundry_folders(args, meta: dict) -> tuple[Path, Path]:
    """The laundry set's originals, and as many photos of another seed (rendered once)."""
    from progan.datasets import laundry

    if meta.get("training", {}).get("config", {}).get("data") not in LAUNDRY_SETS:
        raise ProganError(
            f"{args.model} was not trained on a laundry set: give --reals and --fresh"
        )
    built = Path(args.data_root) / "laundry" / "settings.json"
    if not built.is_file():
        raise ProganError(
            f"no laundry set in {args.data_root}: build it with python -m progan.datasets "
            f"laundry-recolored --root {args.data_root}, or give --data-root"
        )
    settings = json.loads(built.read_text())
    if settings.get("seed") == args.fresh_seed:
        raise ProganError(f"--fresh-seed {args.fresh_seed} is the training set's own seed")
    fresh = dataclasses.replace(laundry.DEFAULT, n=args.n, seed=args.fresh_seed)
    out = Path(args.runs) / f"laundry-seed{args.fresh_seed}-n{args.n}"
    return Path(args.data_root) / "laundry" / "images", laundry.generate(out, fresh) / "images"


def scores(critic, images: np.ndarray, stage: int, label: int | None) -> np.ndarray:
    out = []
    for start in range(0, len(images) - len(images) % BATCH, BATCH):
        x = images[start : start + BATCH].astype(np.float32) / 127.5 - 1.0
        labels = None if label is None else np.full(len(x), label, np.int32)
        out.append(np.asarray(critic(x, stage=stage, labels=labels)).ravel())
    return np.concatenate(out)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from progan.quiet import import_tensorflow

    import_tensorflow()
    import progan
    from progan.export import resolve_export_dir

    folder = resolve_export_dir(args.model)
    critic, meta = load_critic(folder)
    generator = progan.load_generator(folder)
    classes = list(generator.classes or [])
    if classes and args.label not in classes:
        raise ProganError(f"the model is conditional: give --label, one of {', '.join(classes)}")
    if not classes and args.label is not None:
        raise ProganError("the model is not conditional: drop --label")
    if (args.reals is None) != (args.fresh is None):
        raise ProganError("give both --reals and --fresh, or neither (laundry sets only)")
    reals, fresh = (args.reals, args.fresh) if args.reals else laundry_folders(args, meta)
    top = meta["resolutions"][-1]
    shape = generator.shape_of(top)
    label = classes.index(args.label) if classes else None
    latents = progan.seed_latents(list(range(args.n)), generator.latent_dim)
    sets = {
        "trained on": read_images(reals, args.n, shape),
        "never seen": read_images(fresh, args.n, shape),
        "fakes (EMA G)": generator.render(latents, top, labels=args.label),
    }
    stage = int(meta["stages"]) - 1
    scored = {name: scores(critic, images, stage, label) for name, images in sets.items()}
    print(
        f"critic of {folder} at {top}, {args.n} images each"
        + (f", class {args.label}" if classes else "")
    )
    print()
    print("| images | critic score, mean | std |")
    print("|---|---:|---:|")
    for name, values in scored.items():
        print(f"| {name} | {values.mean():.3f} | {values.std():.3f} |")
    trained, seen, fakes = scored.values()
    gap, margin = trained.mean() - seen.mean(), trained.mean() - fakes.mean()
    error = math.sqrt(trained.var() / len(trained) + seen.var() / len(seen))
    share = gap / margin + 0.0  # no "-0.000" when a folder is compared with itself
    print()
    print(
        f"memorized: {share:.3f} ± {error / abs(margin):.3f} of the real-vs-fake margin "
        f"(trained on − never seen {gap:.3f}, trained on − fakes {margin:.3f})"
    )
    return 0


if __name__ == "__main__":
    run(main)
