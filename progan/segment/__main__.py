"""Train the cloth segmenter, or fine-tune one on your own photos and masks.

    python -m progan.segment train --data laundry --out ~/runs/seg [--epochs 12] [--res 256x144]
    python -m progan.segment train --out ~/runs/seg --resume
    python -m progan.segment finetune --data PHOTOS --masks MASKS --out ~/runs/mine
                                      [--from checkpoints/segmenter] [--epochs 4]

``--data`` is ``laundry`` (built under --data-root the first time), a folder with ``images/``
and ``masks/``, or a folder of photos with ``--masks`` naming the folder of their masks (the
format ``python -m progan.recolor --masks`` reads: 0 belt, 255 cloth, same names and sizes).
The export lands in ``OUT/export``; ``python -m progan.recolor --segmenter OUT/export`` uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence

from config import SegmenterConfig
from progan.cli import Parser, real_number, run, whole_number
from progan.errors import ProganError
from progan.latent import SEED_LIMIT
from progan.quiet import import_backend
from progan.resolution import parse_res
from progan.run_folder import resumed_config

# Fine-tuning starts from a trained network: a fifth of the rate, a third of the epochs.
FINETUNE = {"learning_rate": SegmenterConfig.learning_rate / 5, "epochs": 4}
SHAPING = ("data", "masks", "res", "epochs", "batch_size", "learning_rate", "held_out", "seed")


def build_parser() -> Parser:
    parser = Parser(prog="python -m progan.segment", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a segmenter from scratch")
    finetune = commands.add_parser("finetune", help="go on training a segmenter on new data")
    for sub in (train, finetune):
        sub.add_argument("--out", required=True, help="run folder")
        sub.add_argument("--resume", action="store_true", help="continue the run in --out")
        sub.add_argument("--data", help="laundry, a folder with images/ and masks/, or photos")
        sub.add_argument("--masks", help="the masks' folder, when --data holds only photos")
        sub.add_argument("--data-root", help=f"({SegmenterConfig.data_root})")
        sub.add_argument("--res", help="working WIDTHxHEIGHT, sides divisible by 16 (256x144)")
        sub.add_argument("--epochs", type=whole_number(1), help="passes over the photos")
        sub.add_argument("--batch-size", type=whole_number(1), help="(8)")
        sub.add_argument("--learning-rate", type=real_number(0, above=True), help="Adam's rate")
        sub.add_argument(
            "--held-out",
            type=whole_number(1),
            help="photos at the end never trained on, measured every epoch (100)",
        )
        sub.add_argument("--seed", type=whole_number(0, SEED_LIMIT - 1), help="(0)")
    finetune.add_argument(
        "--from",
        dest="init_from",
        default=None,
        help="the segmenter export to start from (default: the shipped one)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SegmenterConfig:
    """A new run's settings from the flags, or a resumed run's own (from its config.json)."""
    given = [f"--{name.replace('_', '-')}" for name in SHAPING if getattr(args, name) is not None]
    if args.resume:
        data = resumed_config(args.out, given)
        for key in ("res", "widths", "brightness", "contrast"):
            data[key] = tuple(data[key])
        data |= {"out": args.out, "resume": True}
        if args.data_root is not None:
            data["data_root"] = args.data_root
        return SegmenterConfig(**data)
    changes = {
        name: getattr(args, name)
        for name in ("data", "masks", "epochs", "batch_size", "learning_rate", "held_out", "seed")
        if getattr(args, name) is not None
    }
    if args.res:
        changes["res"] = parse_res(args.res)
    if args.data_root:
        changes["data_root"] = args.data_root
    if args.command == "finetune":
        from progan.segment.segmenter import DEFAULT_SEGMENTER, Segmenter

        source = Segmenter(args.init_from or DEFAULT_SEGMENTER)  # refused here if unusable
        res = tuple(source.info["res"])
        if changes.get("res", res) != res:
            raise ProganError(f"--res must stay {res[1]}x{res[0]}, the segmenter's own")
        changes = FINETUNE | changes
        changes |= {"res": res, "widths": tuple(source.info["widths"])}
        changes["init_from"] = str(source.path)
    return dataclasses.replace(SegmenterConfig(out=args.out), **changes)


def train(cfg: SegmenterConfig, command: str) -> int:
    from progan.segment.trainer import SegmenterTrainer

    trainer = SegmenterTrainer(cfg)
    try:
        export = trainer.train()
    except KeyboardInterrupt as stop:
        print(f"{stop}; continue with: python -m progan.segment {command} --out {cfg.out} "
              "--resume", file=sys.stderr)  # fmt: skip
        return 130
    print(f"done: {export}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    import_backend()
    return train(config_from_args(args), args.command)


if __name__ == "__main__":
    run(main)
