"""``python -m progan COMMAND``: render and interpolate seeds, color prototypes, evaluation,
exports, color quantization and CycleGAN recoloring.

Each command is thin: it checks its flags, loads the model once and calls :mod:`progan.latent`
and :mod:`progan.colors`, the same functions the studio calls, so a seed gives the same picture
here and there. Flags are checked before the model is loaded, so a typo costs no TensorFlow
start-up. A command is one ``add_*`` function that registers its flags and handler.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from config import (
    COLOR_HUES,
    COLORS,
    LATENT_LIMITS,
    PROTOTYPES,
    SHIFT_METHOD,
    SHIFT_METHODS,
)
from progan import colors, files, latent
from progan.cli import Parser, count, run, whole_number
from progan.errors import ProganError
from progan.evaluation import (
    color_figures,
    evaluation_reals,
    evaluation_seeds,
    kind_figures,
    load_model,
    render_seeds,
)
from progan.quiet import import_backend

PROG = "python -m progan"


def write_file(path: Path, data: bytes) -> None:
    print(f"wrote {files.write_bytes(path, data)}")


def save_png(image: np.ndarray, path: Path) -> None:
    """One image of many into a folder tree that is made as it fills (one line at the first
    image when it cannot be)."""
    files.make_folder(path.parent)
    files.save_image(path, image)


def output_path(text: str | None, default: str, suffix: str) -> Path:
    path = Path(text or default)
    if path.suffix.lower() != suffix:
        raise ProganError(f"output {path} must end in {suffix}")
    return path


def single_seed(text: str) -> int:
    seeds = latent.parse_seeds(text)
    if len(seeds) != 1:
        raise ProganError(f"{text!r} is not one seed; use --seeds for several")
    return seeds[0]


def add_model_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="DIR",
        help="an export folder or a training run folder (default: the shipped model in "
        "checkpoints/)",
    )


def add_method_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method",
        choices=SHIFT_METHODS,
        default=SHIFT_METHOD,
        help="how an unconditional model is shifted to a color: the prototype difference or "
        "a step along the color's fitted boundary (default: %(default)s); a conditional model "
        "draws the color as its class label either way",
    )


def add_res_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--res", metavar="WxH", help="resolution, e.g. 80x48 (default: the model's largest)"
    )


# generate ----------------------------------------------------------------------------------------


def add_generate(commands: Any) -> None:
    parser = commands.add_parser(
        "generate",
        help="render seeds to PNG",
        description="Render one seed, or several as one grid (or one file each), to PNG.",
    )
    add_model_flag(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--seed", metavar="N", help="one seed in [0, 2^32)")
    which.add_argument(
        "--seeds", nargs="+", metavar="SPEC", help="several seeds: a range 0-15, a list 1,2,7"
    )
    add_res_flag(parser)
    parser.add_argument(
        "--color",
        default="original",
        choices=COLORS,
        help="draw in this color: the class label of a conditional model, the color shift of "
        "an unconditional one (default: original)",
    )
    add_method_flag(parser)
    parser.add_argument(
        "--separate",
        action="store_true",
        help="with --seeds: one file per seed (OUT-SEED.png) instead of a grid",
    )
    parser.add_argument(
        "--every-color",
        action="store_true",
        help="a grid of one row per seed and one column per color (original, red, green, "
        "blue, white), instead of --color",
    )
    parser.add_argument(
        "-o", "--output", metavar="OUT.png", help="default: seedN.png, or seeds.png for a grid"
    )
    parser.set_defaults(handler=generate)


def generate(args: argparse.Namespace) -> int:
    seeds = [single_seed(args.seed)] if args.seed is not None else latent.parse_seeds(args.seeds)
    colors.check_color(args.color)
    default = f"seed{seeds[0]}.png" if len(seeds) == 1 else "seeds.png"
    out = output_path(args.output, default, ".png")
    if args.every_color and args.separate:
        raise ProganError("--every-color makes one grid; drop --separate")
    g = load_model(args.model)
    if args.every_color:
        rows = [colors.render_seeds(g, seeds, args.res, c, args.method) for c in COLORS]
        grid = latent.image_grid(
            np.stack(rows, axis=1).reshape(-1, *rows[0].shape[1:]), len(COLORS)
        )
        write_file(out, latent.encode_png(grid))
        return 0
    images = colors.render_seeds(g, seeds, args.res, args.color, args.method)
    if len(seeds) == 1:
        write_file(out, latent.encode_png(images[0]))
    elif args.separate:
        for seed, image in zip(seeds, images, strict=True):
            name = f"{out.stem}-{seed}{out.suffix}" if args.output else f"seed{seed}.png"
            write_file(out.with_name(name), latent.encode_png(image))
    else:
        write_file(out, latent.encode_png(latent.image_grid(images)))
    return 0


# interpolate -------------------------------------------------------------------------------------


def add_interpolate(commands: Any) -> None:
    limits = LATENT_LIMITS
    parser = commands.add_parser(
        "interpolate",
        help="animate from one seed to another as a GIF",
        description="Write an animated GIF walking the latent space from seed A to seed B.",
    )
    add_model_flag(parser)
    parser.add_argument(
        "--seeds", nargs=2, required=True, metavar=("A", "B"), help="the first and last seed"
    )
    parser.add_argument(
        "--frames",
        type=whole_number(limits.min_frames, limits.max_frames),
        default=30,
        help=f"frames from A to B, both included ({limits.min_frames}-{limits.max_frames})",
    )
    parser.add_argument(
        "--delay",
        type=whole_number(limits.min_delay_ms, limits.max_delay_ms),
        default=80,
        metavar="MS",
        help=f"milliseconds per frame ({limits.min_delay_ms}-{limits.max_delay_ms}, rounded to 10)",
    )
    add_res_flag(parser)
    parser.add_argument(
        "--lerp", action="store_true", help="linear instead of spherical interpolation"
    )
    parser.add_argument(
        "--back-and-forth", action="store_true", help="play A to B, then back to A, in the loop"
    )
    parser.add_argument("-o", "--output", metavar="OUT.gif", help="default: seedA-seedB.gif")
    parser.set_defaults(handler=interpolate)


def interpolate(args: argparse.Namespace) -> int:
    seed_a, seed_b = (single_seed(text) for text in args.seeds)
    out = output_path(args.output, f"seed{seed_a}-seed{seed_b}.gif", ".gif")
    g = load_model(args.model)
    gif = latent.render_gif_bytes(
        g,
        seed_a,
        seed_b,
        args.res,
        frames=args.frames,
        delay_ms=args.delay,
        back_and_forth=args.back_and_forth,
        method="lerp" if args.lerp else "slerp",
    )
    write_file(out, gif)
    return 0


# prototypes --------------------------------------------------------------------------------------


def add_prototypes(commands: Any) -> None:
    parser = commands.add_parser(
        "prototypes",
        help="compute the color prototypes of a model and their success rate",
        description="Average the first N latents of each color into a prototype, measure how "
        "often the color shift hits its color, and save both beside the model.",
    )
    add_model_flag(parser)
    parser.add_argument(
        "--n",
        type=count(),
        default=PROTOTYPES.n,
        help="latents averaged per color (default: %(default)s)",
    )
    parser.add_argument(
        "--samples",
        type=count(),
        default=PROTOTYPES.max_samples,
        help="most seeds sampled to find them (default: %(default)s)",
    )
    parser.add_argument(
        "--success-seeds",
        type=count(),
        default=PROTOTYPES.success_seeds,
        help="seeds the success rate is measured on (default: %(default)s)",
    )
    add_res_flag(parser)
    parser.set_defaults(handler=prototypes)


def prototypes(args: argparse.Namespace) -> int:
    g = load_model(args.model)
    if g.classes:
        raise ProganError(
            f"the model in {g.path} is conditional: its colors are class labels "
            f"({', '.join(g.classes)}; generate --color), prototypes are for unconditional models"
        )
    colors.check_has_colors(g)
    res = latent.check_res(g, args.res)
    print(
        f"sampling up to {args.samples} seeds at {res} for {args.n} latents of each color",
        flush=True,
    )
    found = colors.compute_prototypes(g, args.n, res, args.samples)
    seeds = found.sample_seeds
    sampled = ", ".join(f"{name} {count}" for name, count in found.sampled_classes.items())
    print(f"sampled seeds {seeds.start}-{seeds.stop - 1}: {sampled}", flush=True)
    found = colors.with_success(g, found, args.success_seeds)
    path = colors.save_prototypes(g, found)
    print(f"color shift success over {len(found.success_seeds)} seeds (prototype, boundary):")
    for color in colors.CLASSES:
        short = "" if found.counts[color] >= found.n else f" (fewer than --n {found.n})"
        rates = found.success_rates[color], found.boundary_success_rates[color]
        print(
            f"  {color:<6} {rates[0]:6.1%} {rates[1]:6.1%}"
            f"  prototype of {found.counts[color]} latents{short}"
        )
    print(f"wrote {path}")
    return 0


# evaluate ----------------------------------------------------------------------------------------


def add_evaluate(commands: Any) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="SWD and MS-SSIM of a model against its data",
        description="Sliced Wasserstein distance per pyramid level beside the reals-vs-reals "
        "floor, MS-SSIM of generated pairs beside the data's, and the color-shift success.",
    )
    add_model_flag(parser)
    parser.add_argument(
        "--data",
        required=True,
        help="image folder or named data set (laundry, laundry-recolored, ...)",
    )
    parser.add_argument(
        "--n",
        type=count(least=2),
        default=4096,
        help="generated images (and twice as many reals) (default: %(default)s)",
    )
    parser.add_argument(
        "--first-seed",
        type=single_seed,
        default=0,
        help="the generated images are seeds FIRST to FIRST+N-1 (default: %(default)s); pick "
        "among models on other seeds than the ones reported",
    )
    add_res_flag(parser)
    add_method_flag(parser)
    parser.add_argument("--data-root", help="where named data sets and caches live (default data/)")
    parser.add_argument("--json", metavar="OUT.json", help="also write the numbers as JSON")
    parser.add_argument(
        "--inception",
        action="store_true",
        help="also FID, KID and Inception Score (InceptionV3's ImageNet weights: downloaded "
        "when online, or --inception-weights)",
    )
    parser.add_argument(
        "--inception-weights", metavar="FILE", help="a local InceptionV3 weights file (.h5)"
    )
    parser.set_defaults(handler=evaluate)


def evaluate(args: argparse.Namespace) -> int:
    from config import DATA_ROOT
    from progan import metrics
    from progan.resolution import parse_res
    from progan.sources import recolor_groups, source_labels

    # flags that can only fail at the end are checked before minutes of rendering
    json_out = output_path(args.json, "metrics.json", ".json") if args.json else None
    if args.inception_weights and not Path(args.inception_weights).is_file():
        raise ProganError(f"--inception-weights {args.inception_weights}: no such file")
    g = load_model(args.model)
    res = latent.check_res(g, args.res)
    data_root = Path(args.data_root) if args.data_root else DATA_ROOT
    source, cache, reals = evaluation_reals(g, res, args.data, data_root, args.n)
    n = len(reals) // 2
    seeds = evaluation_seeds(args.first_seed, n)
    fakes = render_seeds(g, seeds, res)
    result = metrics.evaluate(fakes, reals)
    print(
        f"{g.path} at {res}: {n} generated images (seeds {seeds[0]}-{seeds[-1]}) against "
        f"{2 * n} of {source.name}"
    )
    print(metrics.format_table(result, res))
    if args.inception or args.inception_weights:
        from progan.inception import inception_metrics

        scores = inception_metrics(
            latent.as_rgb(fakes), latent.as_rgb(reals[:n]), args.inception_weights or "imagenet"
        )
        print(
            f"FID {scores['fid']:.2f} · KID ×1e3 {1e3 * scores['kid']:.2f} · Inception Score "
            f"{scores['is']:.2f} (reals {scores['is_real']:.2f}) against {n} reals"
        )
        result |= scores
    if g.channels == 1:
        print("no color figures: a grey model draws no colors")
    elif g.classes or g.prototypes:
        result |= color_figures(g, res, args.method)
        groups = recolor_groups(source)
        if groups:  # the recolored data's own figures: what a model of it can be held to
            images = cache.arrays[parse_res(res)]
            found = source_labels(source)
            names = [found.classes[found.indices[p]] for p in cache.kept]
            data = colors.data_color_report(images, names)
            if data:
                print(
                    "  the data's own accuracy: "
                    + ", ".join(
                        f"{color} {data[f'accuracy_data_{color}']:.1%}"
                        for color in colors.CLASSES
                        if f"accuracy_data_{color}" in data
                    )
                    + f"; multi-colored {data['multicolored_data']:.1%}"
                )
            at = {int(position): index for index, position in enumerate(cache.kept)}
            kept = [
                np.array([at[p] for p in group]) for group in groups if all(p in at for p in group)
            ]
            ceiling = colors.data_shape_ssim(images, kept)
            print(f"  the data's own (each photo against its recolored copies): {ceiling:.3f}")
            result |= data | {"shape_ssim_data": ceiling}
    else:
        print(
            "no color figures: an unconditional model needs prototypes first "
            f"(python -m progan prototypes --model {g.path})"
        )
    result |= kind_figures(source, cache, g, res, fakes, reals)
    if json_out:
        write_file(
            json_out,
            (json.dumps({"res": res, "first_seed": seeds[0], **result}, indent=2) + "\n").encode(),
        )
    return 0


# export ------------------------------------------------------------------------------------------


def add_export(commands: Any) -> None:
    parser = commands.add_parser(
        "export",
        help="copy a model's export, e.g. as float16 to ship it",
        description="Write the EMA generator of a run or export folder to a new export folder.",
    )
    add_model_flag(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="the new export folder")
    parser.add_argument(
        "--float16",
        action="store_true",
        help="half-size float16 weights (a run continued from them with train.py --from starts "
        "from weights rounded to float16)",
    )
    parser.add_argument("--name", help="the model's name in the studio and /healthz")
    parser.set_defaults(handler=export_model)


def export_model(args: argparse.Namespace) -> int:
    g = load_model(args.model)  # a broken model fails here with a clear message
    from progan.export import MODEL_JSON, copy_export

    out = Path(args.out).resolve()
    # An export replaces its folder whole: only ever an older export, never a folder of models
    # (checkpoints/), a run folder or the model being read.
    if out.exists() and not (out / MODEL_JSON).is_file() and any(out.iterdir()):
        raise ProganError(
            f"--out {args.out} holds other files and no {MODEL_JSON}, and an export replaces "
            "its folder whole; name a new or empty folder, e.g. --out exports/mine"
        )
    if out == Path(g.path).resolve():
        raise ProganError(f"--out {args.out} is the model being exported; name another folder")
    extra = {"name": args.name} if args.name else None
    try:
        written = copy_export(g.path, out, "float16" if args.float16 else "float32", extra)
    except OSError as err:
        raise ProganError(f"cannot write {out}: {err.strerror or err}") from err
    print(f"wrote {written}")
    return 0


# quantize ----------------------------------------------------------------------------------------


def add_quantize(commands: Any) -> None:
    parser = commands.add_parser(
        "quantize",
        help="reduce images to K colors each by k-means (the color curriculum's data)",
        description="Quantize every image of a data set to K colors (k-means per image, in "
        "RGB), write them as PNG, or draw one image at several K side by side.",
    )
    parser.add_argument("--data", required=True, help="image folder or named data set")
    parser.add_argument(
        "--k", required=True, metavar="K[,K…]", help="colors per image, e.g. 5 or 2,3,4,5,10,20"
    )
    parser.add_argument(
        "--res", metavar="WxH", help="pad and resize to this first, as the trainer's cache does"
    )
    parser.add_argument(
        "--seed",
        type=whole_number(0, latent.SEED_LIMIT - 1),
        default=0,
        help="of the k-means starts",
    )
    parser.add_argument("--data-root", help="where named data sets live (default data/)")
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", metavar="DIR", help="write DIR/kK/NAME.png for every image")
    out.add_argument(
        "--strip",
        metavar="OUT.png",
        help="one image (--image) in full color, then at every K, left to right",
    )
    parser.add_argument(
        "--image", type=whole_number(0), default=0, help="which image --strip shows"
    )
    parser.set_defaults(handler=quantize)


def quantize(args: argparse.Namespace) -> int:
    from config import DATA_ROOT
    from progan.data import fit_to, open_source
    from progan.quantize import kmeans_images
    from progan.resolution import parse_res

    try:
        ks = [int(k) for k in args.k.split(",") if k.strip()]
    except ValueError:
        ks = []
    if not ks or min(ks) < 1:
        raise ProganError(f"--k {args.k!r}: give whole numbers of at least 1, e.g. 5 or 2,5,20")
    target = parse_res(args.res) if args.res else None
    source = open_source(args.data, Path(args.data_root) if args.data_root else DATA_ROOT)
    names = [p.relative_to(source.root).with_suffix(".png") for p in getattr(source, "files", [])]

    def prepared(image: np.ndarray) -> np.ndarray:
        return image if target is None else fit_to(image, target)

    if args.strip:
        out = output_path(args.strip, "quantization.png", ".png")
        if args.image >= len(source):
            raise ProganError(f"--image {args.image}: {source.name} has {len(source)} images")
        for index, image in enumerate(source.images()):
            if index == args.image:
                image = prepared(image)[None]
                row = [image, *(kmeans_images(image, k, args.seed, index) for k in ks)]
                write_file(out, latent.encode_png(latent.image_grid(np.concatenate(row), len(row))))
                return 0
        raise ProganError(
            f"--image {args.image}: {source.name} has {args.image} readable images or fewer"
        )
    folder = Path(args.output)
    written = 0
    for index, image in enumerate(source.images()):
        position = index + len(source.skipped)  # unreadable files before it are skipped
        name = names[position] if names else Path(f"{index:05d}.png")
        for k in ks:
            save_png(
                kmeans_images(prepared(image)[None], k, args.seed, index)[0],
                folder / f"k{k}" / name,
            )
        written += 1
    skipped = f"; skipped {len(source.skipped)} unreadable" if source.skipped else ""
    print(f"wrote {written} images at K = {', '.join(map(str, ks))} into {folder}{skipped}")
    return 0


# translate ---------------------------------------------------------------------------------------


TRANSLATE_METHODS = ("segment", "cyclegan")


def add_translate(commands: Any) -> None:
    parser = commands.add_parser(
        "translate",
        help="recolor photos without masks: predicted masks (default) or a CycleGAN",
        description="Recolor every photo of a folder without hand-drawn masks. --method "
        "segment (the default) predicts each photo's cloth mask and recolors it at the photo's "
        "own size into OUT/<color>/NAME.png, with the masks in OUT/masks; --method cyclegan "
        "translates each photo with a trained CycleGAN (python -m progan.cyclegan train) into "
        "OUT/NAME.png at the translator's resolution.",
    )
    parser.add_argument(
        "--method",
        choices=TRANSLATE_METHODS,
        help="segment (default) or cyclegan (the default when --model is given)",
    )
    parser.add_argument(
        "--model",
        metavar="DIR",
        help="a translator's run or export folder (default: the shipped one, checkpoints/recolor)",
    )
    parser.add_argument(
        "--segmenter",
        metavar="DIR",
        help="a segmenter export (default: the shipped one, checkpoints/segmenter)",
    )
    parser.add_argument(
        "--colors",
        nargs="+",
        default=list(COLOR_HUES),
        help=f"target colors of --method segment (default: all of {' '.join(COLOR_HUES)})",
    )
    parser.add_argument("--images", required=True, metavar="DIR", help="a folder of photos")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the PNGs go")
    parser.set_defaults(handler=translate)


def translate(args: argparse.Namespace) -> int:
    method = args.method or ("cyclegan" if args.model else "segment")
    if method == "segment":
        if args.model:
            raise ProganError("--model names a CycleGAN translator; add --method cyclegan")
        from progan.recolor import recolor_without_masks

        print(recolor_without_masks(Path(args.images), Path(args.out), args.segmenter, args.colors))
        return 0
    if args.segmenter:
        raise ProganError("--segmenter belongs to --method segment")
    import_backend()
    from PIL import Image

    from progan.cyclegan.translator import load_translator
    from progan.sources import IMAGE_SUFFIXES, UNREADABLE, to_rgb

    root = Path(args.images)
    if not root.is_dir():
        raise ProganError(f"--images {root} is not a folder of photos")
    translator = load_translator(args.model)
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    folder = Path(args.out)
    written, unreadable = 0, []
    for path in paths:
        try:
            with Image.open(path) as image:
                photo = to_rgb(image)
        except UNREADABLE:
            unreadable.append(path.name)
            continue
        save_png(
            translator.translate([photo])[0], folder / path.relative_to(root).with_suffix(".png")
        )
        written += 1
    if not written:
        raise ProganError(f"{root} holds no readable photo ({', '.join(IMAGE_SUFFIXES)})")
    skipped = f"; skipped unreadable {', '.join(unreadable)}" if unreadable else ""
    print(f"wrote {written} photos recolored to {translator.target} into {folder}{skipped}")
    return 0


COMMANDS = (
    add_generate,
    add_interpolate,
    add_prototypes,
    add_evaluate,
    add_export,
    add_quantize,
    add_translate,
)


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Render seeds, interpolate between them, compute color prototypes, "
        "evaluate or export a model, quantize a data set's colors, recolor photos.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    run(main)
