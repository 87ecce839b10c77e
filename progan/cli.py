"""What every command of the project shares: one-line errors and a non-zero exit, never a traceback.

``python -m progan``, ``python -m progan.datasets``, ``python -m progan.recolor`` and
``train.py`` all build their parser with :class:`Parser` and run through :func:`run`, so a
mistake reads the same everywhere.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from progan.errors import ProganError

EXIT_USAGE = 2
# The most images or latents one count flag asks for: ~100 MB of 128-d latents, a few hours of
# rendering on two cores; far past it is a typo.
COUNT_MOST = 200_000


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see {self.prog} --help)")


def whole_number(least: int, most: int = 2**31 - 1) -> Callable[[str], int]:
    """An argparse type for a whole number in ``[least, most]``, so a bad count, port or size
    fails before any model loads, and a typo of a few more digits is refused instead of filling
    the memory."""

    def parse(text: str) -> int:
        digits = text.strip()
        if not digits.isdigit() or len(digits) > 10 or not least <= int(digits) <= most:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {least} to {most}, got {text!r}"
            )
        return int(digits)

    return parse


def count(least: int = 1) -> Callable[[str], int]:
    """A count flag's argparse type: at least ``least``, at most :data:`COUNT_MOST`."""
    return whole_number(least, COUNT_MOST)


def real_number(least: float, *, above: bool = False) -> Callable[[str], float]:
    """An argparse type for a finite number of at least ``least`` (more than it, with
    ``above``): a zero interval or rate divides by zero or trains nothing, and ``nan`` would
    pass every comparison a later check could make."""
    bound = f"more than {least:g}" if above else f"{least:g} or more"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < least or (above and value == least):
            raise argparse.ArgumentTypeError(f"must be a number {bound}, got {text!r}")
        return value

    return parse


def resume_command(run: str | os.PathLike, *flags: str) -> str:
    """The shell line that continues the training run in ``run``: every message that tells a
    user how to go on (a stop, a lost worker, a step out of memory) prints this one, so a path
    with spaces stays one argument and a JAX run stays on JAX."""
    words = ["python", "train.py", "--out", os.fspath(run), "--resume", *flags]
    if os.environ.get("KERAS_BACKEND") == "jax":
        words += ["--backend", "jax"]
    return shlex.join(words)


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def run(
    main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None
) -> None:
    """Call ``main(argv)`` and turn a :class:`ProganError` into one line and exit status 2."""
    try:
        code = main(argv)
    except ProganError as err:
        fail(str(err))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(code or 0)
