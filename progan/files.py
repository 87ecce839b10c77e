"""Writing a file so that a reader never finds half of it: not after a crash, a full disk, a
Ctrl-C or a power cut. Every file the package writes whole (checkpoints, exports, caches, data
sets, configs, the CLI's images) goes through here: one way to do it, one error when it fails.
(A run's ``metrics.jsonl`` is appended to instead; a resume drops a line a crash cut off. The
files inside a folder that is renamed into place whole, an export or a stage cache, are written
plainly into its temporary folder and synced by :func:`sync_tree` before the rename.)

The bytes go to a temporary name beside the target (the same folder, so the rename cannot cross
file systems; hidden and ending in ``.tmp``, so no image folder or checkpoint listing takes a
leftover one for data), are synced to the disk, and the temporary file is renamed over the
target, which POSIX makes atomic; the folder is synced too, so the new name survives a power
cut. A write that fails removes its temporary file and leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from progan.errors import ProganError


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path to write ``target``'s new contents to; it becomes ``target`` when the
    block ends without an error. An ``OSError`` is a :class:`ProganError` naming ``target``;
    a missing folder is one too (``generate -o typo/x.png`` makes no folder ``typo``). One
    that names another file (the block reads its input, and that fails) names that file."""
    target = Path(target)
    unique = f"{os.getpid()}-{secrets.token_hex(4)}"  # two processes or threads at once
    tmp = target.with_name(f".{target.name}.{unique}.tmp")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync(target.parent)
    except OSError as err:
        other = err.filename is not None and Path(err.filename) not in (tmp, target.parent)
        what = f"read {err.filename}" if other else f"write {target}"
        raise ProganError(f"cannot {what}: {err.strerror or err}") from err
    finally:
        with contextlib.suppress(OSError):  # e.g. its folder is a file
            tmp.unlink(missing_ok=True)


def sync(path: Path) -> None:
    """Flush a file's or a folder's contents to the disk (a rename alone may reach it first)."""
    try:
        _fsync(path)
    except OSError as err:
        raise ProganError(f"cannot write {path}: {err.strerror or err}") from err


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def make_folder(folder: Path) -> Path:
    """``folder`` and its parents, for a command's output tree (one line when it cannot be)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ProganError(f"cannot write {folder}: {err.strerror or err}") from err
    return folder


def sync_tree(folder: Path) -> None:
    """Sync every file under ``folder`` and the folders themselves, before the folder is
    renamed into place (an export, a stage cache)."""
    for path in sorted(Path(folder).rglob("*"), reverse=True):
        sync(path)
    sync(folder)


def write_bytes(target: Path, data: bytes) -> Path:
    with replacing(target) as tmp:
        tmp.write_bytes(data)
    return target


def write_text(target: Path, text: str) -> Path:
    return write_bytes(target, text.encode())


def write_json(target: Path, data: Any, indent: int = 1) -> Path:
    return write_text(target, json.dumps(data, indent=indent) + "\n")


def save_npz(target: Path, arrays: dict[str, np.ndarray]) -> Path:
    with replacing(target) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return target


def save_npy(target: Path, array: np.ndarray) -> Path:
    with replacing(target) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
    return target


def to_pil(image: np.ndarray) -> Any:
    """A uint8 array as a Pillow image: H×W×3 (RGB), H×W×1 or H×W (L, grey)."""
    from PIL import Image

    return Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)


def save_image(target: Path, image: Any, fmt: str | None = None, **options: Any) -> Path:
    """A PIL image, or a uint8 array, in ``fmt`` (by default the format ``target``'s suffix
    names), with Pillow's save ``options``."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = to_pil(image)
    fmt = fmt or Image.registered_extensions().get(Path(target).suffix.lower())
    if fmt is None:
        raise ProganError(f"cannot write {target}: name it .png, .jpg or another image type")
    with replacing(target) as tmp:
        image.save(tmp, fmt, **options)
    return target
