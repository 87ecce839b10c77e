"""Start TensorFlow without the lines a CPU-only machine prints on every start as if it failed.

TensorFlow's C++ logs before absl is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide these:
on a machine without an NVIDIA driver it reports (twice) that it found no CUDA driver, and then
``E0000 … failed call to cuInit … UNKNOWN ERROR (303)`` when it looks for devices. On such a
machine those lines are expected, and a user reads them as a failure. So standard error is
captured while TensorFlow loads and lists its devices; the known start-up lines are dropped and
every other line is printed as it came. Where an NVIDIA driver is installed nothing is filtered:
a CUDA error there is real.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

# Fragments of the start-up lines a CPU-only machine prints (TensorFlow 2.21).
START_UP_NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "cudart_stub.cc",
    "Could not find cuda drivers",
    "failed call to cuInit",
    "oneDNN custom operations are on",
)
NVIDIA_DRIVER = (Path("/proc/driver/nvidia"), Path("/dev/nvidiactl"))


def has_nvidia_driver() -> bool:
    return any(path.exists() for path in NVIDIA_DRIVER)


def kept_lines(text: str) -> list[str]:
    """The lines of captured start-up output that are not known CPU-only noise."""
    return [
        line
        for line in text.splitlines()
        if line.strip() and not any(fragment in line for fragment in START_UP_NOISE)
    ]


def import_tensorflow() -> ModuleType:
    """``import tensorflow``, with devices listed, quietly on a machine without a GPU driver."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or has_nvidia_driver():
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow

            tensorflow.config.list_physical_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        for line in kept_lines(captured.read().decode(errors="replace")):
            print(line, file=sys.stderr)
    return tensorflow


def import_backend() -> ModuleType:
    """The library Keras runs on in this process (``$KERAS_BACKEND``, else TensorFlow), loaded
    before Keras: TensorFlow quietly as above, JAX as it is (it prints nothing on a CPU)."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "jax":
        import jax

        return jax
    return import_tensorflow()
