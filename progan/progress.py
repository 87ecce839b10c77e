"""Progress bars that suit both a terminal and a log file.

On a terminal a bar redraws every second; redirected to a file (``nohup … > log``) it writes a
line a minute instead of thousands of carriage-return updates.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress_bar(iterable: Any = None, **kwargs: Any) -> tqdm:
    interactive = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 1.0 if interactive else 60.0)
    kwargs.setdefault("dynamic_ncols", interactive)
    return tqdm(iterable, file=sys.stderr, **kwargs)
