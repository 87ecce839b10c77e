"""The JAX suite (tests/jax_backend) in a process of its own: Keras picks its backend once per
process, and this one runs on TensorFlow."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(1500)
def test_the_jax_suite_passes_in_its_own_process():
    env = os.environ | {"KERAS_BACKEND": "jax"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/jax_backend"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1400,
    )
    print(proc.stdout[-2000:])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout
