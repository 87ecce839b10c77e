"""Shared by every test: one TensorFlow import, two logical CPU devices, small fixtures.

Splitting the CPU into two logical devices must happen before TensorFlow touches a device, so it
is done here at import time; single-device code simply uses the first one. The suite runs under
TensorFlow; ``tests/jax_backend`` runs in a process of its own under JAX (started by
``test_backends.py``), where TensorFlow is not imported and only that folder is collected.
"""

from __future__ import annotations

import importlib.abc
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


class HideTensorFlow(importlib.abc.MetaPathFinder):
    """Under JAX the suite runs as on a machine without TensorFlow (the GPU machines that have
    JAX and no TensorFlow): anything that imports it, Keras' optional uses included, fails."""

    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r} (hidden from the JAX suite)")
        return None


BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
if BACKEND == "jax":
    collect_ignore_glob = ["test_*.py"]
    sys.meta_path.insert(0, HideTensorFlow())
    # Two CPU devices, as TensorFlow gets two logical ones below (for --strategy mirrored).
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
else:
    from progan.quiet import import_tensorflow

    collect_ignore = ["jax_backend"]
    tf = import_tensorflow()  # quietly: pytest-xdist's controller prints what it loads with
    _cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )


def write_image_folder(folder: Path, count: int, size: tuple[int, int] = (64, 40)) -> Path:
    """``count`` RGB PNGs of a bright blob on grey, plus one greyscale and one corrupt file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    width, height = size
    for i in range(count):
        image = np.full((height, width, 3), 90, np.uint8) + rng.integers(
            0, 20, (height, width, 3), dtype=np.uint8
        )
        top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
        image[top : top + height // 2, left : left + width // 2] = rng.integers(150, 255, 3)
        Image.fromarray(image).save(folder / f"img{i:03d}.png")
    grey = rng.integers(0, 255, (height, width), dtype=np.uint8)
    Image.fromarray(grey, mode="L").save(folder / "grey.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return folder


def write_grey_folder(folder: Path, count: int, colored: int = 0) -> Path:
    """``count`` grey images, half saved as L and half as RGB with equal channels, then
    ``colored`` RGB images with a red patch."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    for i in range(count):
        grey = rng.integers(0, 255, (12, 20), dtype=np.uint8)
        image = Image.fromarray(grey, "L") if i % 2 else Image.fromarray(np.stack([grey] * 3, -1))
        image.save(folder / f"grey{i:02d}.png")
    for i in range(colored):
        image = np.full((12, 20, 3), 128, np.uint8)
        image[2:6, 2:6] = (200, 40, 40)
        Image.fromarray(image).save(folder / f"red{i:02d}.png")
    return folder


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("images"), 30)


@pytest.fixture(scope="session")
def labeled_folder(tmp_path_factory) -> Path:
    """Three classes in subfolders (red, green, blue blobs on grey), 8 images each; one unreadable
    file in ``red`` shifts the cache's positions against the source's."""
    root = tmp_path_factory.mktemp("labeled")
    rng = np.random.default_rng(2)
    for k, name in enumerate(("blue", "green", "red")):
        folder = root / name
        folder.mkdir()
        color = np.zeros(3, np.uint8)
        color[2 - k] = 230
        for i in range(8):
            image = np.full((24, 40, 3), 90, np.uint8)
            top, left = rng.integers(0, 12), rng.integers(0, 20)
            image[top : top + 12, left : left + 20] = color
            Image.fromarray(image).save(folder / f"{i:02d}.png")
    (root / "blue" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return root
