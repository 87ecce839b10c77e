"""Train and compare CycleGAN translators on the laundry set.

    python -m progan.cyclegan train --out ~/runs/recolor [--curriculum 2,3,4,5,10,20]
                                    [--iterations 6000] [--res 160x96] [--paper-sizes] [--resume]
    python -m progan.cyclegan evaluate --models RUN [RUN ...] [--figure F.png] [--table T.md]

``evaluate`` translates the same held-out photos with every model and prints one table against
the mask-based truth, with the photo itself (no translation) as the first row.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from config import CycleGANConfig, LaundryConfig
from progan import files
from progan.cli import Parser, run, whole_number
from progan.errors import ProganError
from progan.latent import SEED_LIMIT, image_grid
from progan.quiet import import_backend
from progan.resolution import format_res, parse_res
from progan.run_folder import resumed_config

PAPER_SIZES = {"filters": 64, "blocks": 9, "critic_filters": 64}
CURRICULA = {"a": (2, 3, 4, 5, 10, 20), "b": (5, 20), "none": ()}


def build_parser() -> Parser:
    parser = Parser(prog="python -m progan.cyclegan", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a translator (original -> a color)")
    train.add_argument("--out", required=True, help="run folder")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    # The run's shape: None when not given, so --resume can refuse them (the run has its own).
    train.add_argument("--color", choices=["red", "green", "blue", "white"], help="(red)")
    train.add_argument("--res", help="WIDTHxHEIGHT, sides divisible by 4 (160x96)")
    train.add_argument("--iterations", type=whole_number(1), help=f"({CycleGANConfig.iterations})")
    train.add_argument(
        "--curriculum",
        help="colors per image in turn before full color: a, b (the paper's 2,3,4,5,10,20 and "
        "5,20), none (the default), or a list such as 4,16",
    )
    train.add_argument(
        "--curriculum-iterations",
        type=whole_number(1),
        help=f"iterations at each K (default {CycleGANConfig.curriculum_iterations}, one epoch "
        "of a domain)",
    )
    train.add_argument("--filters", type=whole_number(1), help=f"({CycleGANConfig.filters})")
    train.add_argument(
        "--blocks", type=whole_number(0), help=f"residual blocks ({CycleGANConfig.blocks})"
    )
    train.add_argument(
        "--paper-sizes",
        action="store_true",
        default=None,
        help="64 filters and 9 blocks (a GPU's job)",
    )
    train.add_argument("--seed", type=whole_number(0, SEED_LIMIT - 1), help="(0)")
    train.add_argument("--data-root", help=f"({CycleGANConfig.data_root})")
    evaluate = commands.add_parser("evaluate", help="compare translators on held-out photos")
    evaluate.add_argument("--models", nargs="+", required=True, help="run or export folders")
    evaluate.add_argument("--data-root", default=CycleGANConfig.data_root)
    evaluate.add_argument("--figure", help="PNG: photos, each model's translation, the truth")
    evaluate.add_argument("--table", help="also write the table as Markdown here")
    return parser


SHAPING = ("color", "res", "iterations", "curriculum", "curriculum_iterations", "filters")
SHAPING += ("blocks", "paper_sizes", "seed")


def curriculum(text: str) -> tuple[int, ...]:
    if text.lower() in CURRICULA:
        return CURRICULA[text.lower()]
    try:
        ks = tuple(int(k) for k in text.split(","))
    except ValueError:
        raise ProganError(f"--curriculum {text!r}: give a, b, none or numbers like 2,3,5") from None
    if not ks or min(ks) < 1:
        raise ProganError(f"--curriculum {text!r}: every K must be at least 1")
    return ks


def train(cfg: CycleGANConfig) -> int:
    from progan.cyclegan.trainer import CycleGANTrainer

    trainer = CycleGANTrainer(cfg)
    try:
        export = trainer.train()
    except KeyboardInterrupt as stop:
        print(f"{stop}; continue with: python -m progan.cyclegan train --out {cfg.out} --resume",
              file=sys.stderr)  # fmt: skip
        return 130
    print(f"done: {export}", file=sys.stderr)
    return 0


def config_from_args(args: argparse.Namespace) -> CycleGANConfig:
    """A new run's settings from the flags, or a resumed run's own, in the --out given (a run
    folder may have moved) and on the --data-root given."""
    given = [f"--{name.replace('_', '-')}" for name in SHAPING if getattr(args, name) is not None]
    if args.resume:
        data = resumed_config(args.out, given)
        data |= {"res": tuple(data["res"]), "curriculum": tuple(data["curriculum"])}
        data |= {"out": args.out, "resume": True}
        if args.data_root is not None:
            data["data_root"] = args.data_root
        return CycleGANConfig(**data)
    if args.paper_sizes and {"--filters", "--blocks"} & set(given):
        raise ProganError("--paper-sizes sets --filters and --blocks; give one or the others")
    defaults = CycleGANConfig(out=args.out)
    cfg = CycleGANConfig(
        out=args.out,
        data_root=args.data_root or defaults.data_root,
        color=args.color or defaults.color,
        res=parse_res(args.res) if args.res else defaults.res,
        curriculum=curriculum(args.curriculum or "none"),
        **{
            name: getattr(args, name)
            for name in ("iterations", "curriculum_iterations", "filters", "blocks", "seed")
            if getattr(args, name) is not None
        },
    )
    return dataclasses.replace(cfg, **PAPER_SIZES) if args.paper_sizes else cfg


def evaluate(args: argparse.Namespace) -> int:
    from progan.cyclegan.domains import laundry_domains
    from progan.cyclegan.evaluate import loss_curve, scores
    from progan.cyclegan.translator import load_translator

    if args.figure and Path(args.figure).suffix.lower() != ".png":
        raise ProganError(f"--figure {args.figure} must end in .png")
    for flag, given in (("--figure", args.figure), ("--table", args.table)):
        if given and not Path(given).resolve().parent.is_dir():
            raise ProganError(f"{flag} {given}: its folder does not exist")
    translators = [load_translator(path) for path in args.models]
    settings = {json.dumps([_split_of(t.info["config"]), t.info["laundry"]]) for t in translators}
    if len(settings) > 1:
        raise ProganError("the models were trained on different domains; compare like with like")
    first = translators[0].info["config"]
    cfg = CycleGANConfig(
        out="", data_root=args.data_root, **_split_of(first) | {"res": tuple(first["res"])}
    )
    made = translators[0].info["laundry"]
    domains = laundry_domains(cfg, LaundryConfig(**made | {"size": tuple(made["size"])}))
    photos, truth, belt = domains.test_a, domains.test_truth, domains.test_belt
    rows = [("photo as is", scores(photos, photos, truth, belt), None, None)]
    outputs = []
    for path, translator in zip(args.models, translators, strict=True):
        out = translator.translate(photos)
        outputs.append(out)
        name = Path(path).resolve()
        name = name.parent.name if name.name == "export" else name.name
        curve = loss_curve(log_folder(translator.path))
        rows.append((name, scores(photos, out, truth, belt), translator.info, curve))
    rows.append(("mask-based truth", scores(photos, truth, truth, belt), None, None))
    lines = [
        f"Held-out photos: {len(photos)} at {format_res(cfg.res)}, original -> {cfg.color}.",
        "",
        "| model | iterations | minutes | Lab L1 ↓ | SSIM ↑ | belt changed ↓ | item changed | "
        "G loss per 1,000 iterations |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, s, info, curve in rows:
        its = str(info["iterations"]) if info else "—"
        minutes = f"{info['train_seconds'] / 60:.0f}" if info else "—"
        losses = " · ".join(f"{v:.2f}" for v in curve) if curve else "—"
        lines.append(
            f"| {name} | {its} | {minutes} | {s['lab_l1']:.1f} | {s['ssim']:.3f} | "
            f"{100 * s['belt_changed']:.1f} % | {100 * s['item_changed']:.1f} % | {losses} |"
        )
    print("\n".join(lines))
    if args.table:
        files.write_text(Path(args.table), "\n".join(lines) + "\n")
    if args.figure:
        shown = slice(0, 6)
        grid = np.concatenate([photos[shown], *[o[shown] for o in outputs], truth[shown]])
        scale = max(1, 192 // grid.shape[1])
        grid = grid.repeat(scale, axis=1).repeat(scale, axis=2)
        files.save_image(Path(args.figure), image_grid(grid, columns=len(photos[shown])))
        print(f"wrote {args.figure} (rows: photo, {', '.join(map(str, args.models))}, truth)")
    return 0


def log_folder(translator: Path) -> Path:
    """Where a translator's training log is: its run folder, above a run's export/, or the
    translator's own folder (a shipped one keeps its log, checkpoints/ holds ProGAN's)."""
    return translator.parent if translator.name == "export" else translator


def _split_of(config: dict) -> dict:
    keys = ("color", "res", "domain_images", "test_images")
    return {k: config[k] for k in keys}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = config_from_args(args) if args.command == "train" else None  # before TensorFlow loads
    import_backend()
    return train(cfg) if cfg else evaluate(args)


if __name__ == "__main__":
    run(main)
