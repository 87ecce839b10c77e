"""A run's checkpoints: one ``.npz`` per save, read and written the same way by every backend.

A checkpoint holds arrays by name (``generator/…``, ``discriminator/…``, ``generator_ema/…`` by
variable path, ``g_opt/i`` and ``d_opt/i`` by position in the optimizer's variable list, and
``counters/…``), so a run started under TensorFlow resumes under JAX and back. It is written
through :mod:`progan.files`: a crash mid-save leaves the previous checkpoint whole. Runs
written before this format (TensorFlow checkpoints) are read by the trainer under TensorFlow.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from progan import files
from progan.errors import ProganError

NAME = re.compile(r"^ckpt-(\d+)\.npz$")
# What a TensorFlow checkpoint folder (the format before this one) holds.
LEGACY_INDEX = "checkpoint"


def path_for(folder: Path, step: int) -> Path:
    return folder / f"ckpt-{step}.npz"


def steps(folder: Path) -> list[int]:
    """The image counts of the checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = (NAME.match(p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def has_legacy(folder: Path) -> bool:
    return (folder / LEGACY_INDEX).is_file()


def save(folder: Path, step: int, arrays: dict[str, np.ndarray], keep: int) -> Path:
    """Write the checkpoint of ``step`` atomically and keep only the newest ``keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    final = files.save_npz(path_for(folder, step), arrays)
    for old in steps(folder)[:-keep]:
        path_for(folder, old).unlink(missing_ok=True)
    return final


def optimizer_variables(optimizers: dict) -> dict:
    """Each optimizer's state by ``NAME/position``: an optimizer's own name (and so its
    variables' paths) changes every time one is built, the order of its variables does not."""
    return {
        f"{name}/{i}": variable
        for name, optimizer in optimizers.items()
        for i, variable in enumerate(optimizer.variables)
    }


def load(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as archive:
            return dict(archive)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ProganError(f"cannot read the checkpoint {path}: {err}") from err


def read_log(path: Path) -> list[dict]:
    """A run's log (``metrics.jsonl``, one JSON object a line), without a line a crash cut off."""
    records = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def trim_log(path: Path, keep: Callable[[dict], bool]) -> None:
    """Rewrite a resumed run's log with the records ``keep`` dates before its checkpoint: the
    training after it runs again and logs again, so a crash leaves no record twice."""
    if not path.is_file():
        return
    files.write_text(path, "".join(json.dumps(r) + "\n" for r in read_log(path) if keep(r)))
