"""``pip install .`` gives a working ``progan`` command and ``import progan`` outside the
checkout: the package, ``config``, the studio's pages and the shipped models all come along."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def copy_of_the_checkout(target: Path) -> Path:
    """The files git tracks or would track (no run folders, data or caches), as a source tree
    pip can build in without writing into the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_pip_install_gives_a_progan_command_that_works_outside_the_checkout(tmp_path):
    """Into a fresh virtual environment that reuses this machine's installed dependencies (no
    network): ``progan --help`` lists every job, ``progan generate`` renders the shipped model
    from another folder, and the installed studio serves its pages."""
    source = copy_of_the_checkout(tmp_path / "source")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python, progan = venv / "bin" / "python", venv / "bin" / "progan"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def call(*args: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(a) for a in args], cwd=elsewhere, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip

    pip = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    installed = call(*pip, source)
    assert installed.returncode == 0, installed.stderr
    listed = call(progan, "--help")
    assert listed.returncode == 0
    for command in ("train", "generate", "evaluate", "recolor", "segment", "datasets", "studio"):
        assert f"  {command} " in listed.stdout
    wrong = call(progan, "paint")
    assert wrong.returncode == 2 and "unknown command 'paint'" in wrong.stderr
    rendered = call(progan, "generate", "--seed", "3", "--color", "red", "-o", "three.png")
    assert rendered.returncode == 0, rendered.stderr
    with Image.open(elsewhere / "three.png") as image:
        assert image.size == (160, 96) and np.asarray(image).std() > 10
    where = call(
        python, "-c", "import config, progan; print(progan.__file__, config.DEFAULT_MODEL_DIR)"
    )
    package, models = where.stdout.split()
    assert Path(package).is_relative_to(venv) and Path(models).is_relative_to(venv)
    pages = "c = create_app().test_client(); print(c.get('/').status_code, "
    served = call(python, "-c", f"from app import create_app; {pages}"
                  "c.get('/static/js/studio.js').status_code)")  # fmt: skip
    assert served.stdout.split() == ["200", "200"], served.stderr
