"""The one ``progan`` command that ``pip install`` puts on the PATH: every job of the project as
a subcommand, each running the same ``main`` as its ``python -m`` entry (or ``train.py``), so a
flag, a message or an exit status never differs between the two spellings.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from progan.cli import EXIT_USAGE, fail, run

# subcommand: (module whose main(argv) runs it, whether the subcommand's name is passed on, help)
COMMANDS: dict[str, tuple[str, bool, str]] = {
    "train": ("progan.train_command", False, "train a progressive GAN (python train.py)"),
    "generate": ("progan.__main__", True, "render seeds to PNG"),
    "interpolate": ("progan.__main__", True, "a walk between two seeds as GIF or PNG"),
    "prototypes": ("progan.__main__", True, "color prototypes of an unconditional model"),
    "evaluate": ("progan.__main__", True, "SWD, MS-SSIM, kind and color figures"),
    "export": ("progan.__main__", True, "write a run's generator as an export"),
    "quantize": ("progan.__main__", True, "a data set's colors cut to K per image"),
    "translate": ("progan.__main__", True, "recolor photos without masks"),
    "recolor": ("progan.recolor", False, "recolor photos, with masks or predicted ones"),
    "segment": ("progan.segment.__main__", False, "train or fine-tune the cloth segmenter"),
    "cyclegan": ("progan.cyclegan.__main__", False, "train or compare CycleGAN translators"),
    "datasets": ("progan.datasets.__main__", False, "build the laundry data sets"),
    "studio": ("app.__main__", False, "serve the studio in a browser (python -m app)"),
}


def usage() -> str:
    lines = ["usage: progan COMMAND [FLAGS]   (progan COMMAND --help for its flags)", ""]
    lines += [f"  {name:<12} {text}" for name, (_, _, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else EXIT_USAGE
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        fail(f"unknown command {name!r}; choose from {', '.join(COMMANDS)} (see progan --help)")
    module, named, _ = COMMANDS[name]
    command = importlib.import_module(module).main
    return command([name, *rest] if named else rest) or 0


def entry() -> None:
    """The console script: one-line errors and exit statuses as every command has them."""
    run(main)
