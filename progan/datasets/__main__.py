"""``python -m progan.datasets``: build the laundry data sets and the pictures of them.

python -m progan.datasets laundry --n 2000 --out data/laundry --seed 0
python -m progan.datasets laundry-recolored --root data [--n 2000]
python -m progan.datasets sheet --data data/laundry --out docs/laundry_contact_sheet.png
python -m progan.datasets strip --data data/laundry --index 0 --out docs/laundry_recolored.png
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from config import LaundryConfig
from progan import files
from progan.cli import Parser, run, whole_number
from progan.errors import ProganError
from progan.latent import SEED_LIMIT
from progan.resolution import format_res, parse_res


def main(argv: Sequence[str] | None = None) -> int:
    defaults = LaundryConfig()
    parser = Parser(prog="python -m progan.datasets", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    make = commands.add_parser("laundry", help="procedural laundry-belt photos with masks")
    make.add_argument("--out", type=Path, default=Path("data/laundry"), help="output folder")
    make.add_argument("--n", type=whole_number(1), default=defaults.n, help="number of images")
    make.add_argument(
        "--seed", type=whole_number(0, SEED_LIMIT - 1), default=defaults.seed, help="data set seed"
    )
    make.add_argument("--size", default=format_res(defaults.size), help="WIDTHxHEIGHT")
    make.add_argument("--workers", type=whole_number(1), help="processes (default: cores)")

    both = commands.add_parser(
        "laundry-recolored", help="the laundry set plus its copies in every color (the default)"
    )
    both.add_argument("--root", type=Path, default=Path("data"), help="data folder")
    both.add_argument(
        "--n", type=whole_number(1), default=defaults.n, help="photos (each also in every color)"
    )
    both.add_argument("--workers", type=whole_number(1), help="processes (default: cores)")

    sheet = commands.add_parser("sheet", help="contact sheet: photos above their masks")
    sheet.add_argument("--data", type=Path, default=Path("data/laundry"))
    sheet.add_argument("--out", type=Path, required=True, help="PNG to write")
    sheet.add_argument("--count", type=whole_number(1), default=16)

    strip = commands.add_parser("strip", help="one photo in every recolor target")
    strip.add_argument("--data", type=Path, default=Path("data/laundry"))
    strip.add_argument("--out", type=Path, required=True, help="PNG to write")
    strip.add_argument("--index", type=whole_number(0), default=0)

    args = parser.parse_args(argv)
    if args.command in ("sheet", "strip") and args.out.suffix.lower() != ".png":
        raise ProganError(f"--out {args.out} must end in .png")
    return COMMANDS[args.command](args)


def _laundry(args: argparse.Namespace) -> int:
    from progan.datasets.laundry import generate

    cfg = dataclasses.replace(LaundryConfig(), n=args.n, seed=args.seed, size=parse_res(args.size))
    start = time.perf_counter()
    out = generate(args.out, cfg, args.workers)
    seconds = time.perf_counter() - start
    print(
        f"{out}: {cfg.n} images of {format_res(cfg.size)} with masks (seed {cfg.seed}), "
        f"ready in {seconds:.0f} s"
    )
    return 0


def _recolored(args: argparse.Namespace) -> int:
    from progan.datasets.laundry.recolored import build

    cfg = dataclasses.replace(LaundryConfig(), n=args.n)
    print(f"{build(args.root, cfg, workers=args.workers)}: laundry photos in every color")
    return 0


def _sheet(args: argparse.Namespace) -> int:
    from progan.datasets.laundry.sheet import contact_sheet

    _save(contact_sheet(args.data, args.count), args.out)
    return 0


def _strip(args: argparse.Namespace) -> int:
    from progan.datasets.laundry.sheet import color_strip

    _save(color_strip(args.data, args.index), args.out)
    return 0


def _save(image: Image.Image, out: Path) -> None:
    files.make_folder(out.parent)
    print(f"wrote {files.save_image(out, image, optimize=True)}")


COMMANDS = {"laundry": _laundry, "laundry-recolored": _recolored, "sheet": _sheet, "strip": _strip}

if __name__ == "__main__":
    run(main)
