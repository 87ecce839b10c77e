import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from progan import files
from progan.errors import ProganError
from progan.sources import FolderSource

REPO = Path(__file__).resolve().parents[1]


def test_each_writer_leaves_only_its_target(tmp_path):
    folder = files.make_folder(tmp_path / "new" / "folder")
    files.write_json(folder / "a.json", {"x": [1, 2]})
    files.save_npz(folder / "b.npz", {"w": np.arange(6).reshape(2, 3)})
    files.save_npy(folder / "c.npy", np.eye(3))
    files.save_image(folder / "d.png", np.full((4, 6, 3), 200, np.uint8))
    files.save_image(folder / "e.jpg", np.zeros((8, 8, 3), np.uint8), quality=90)
    assert sorted(p.name for p in folder.iterdir()) == [
        "a.json",
        "b.npz",
        "c.npy",
        "d.png",
        "e.jpg",
    ]
    assert json.loads((folder / "a.json").read_text()) == {"x": [1, 2]}
    with np.load(folder / "b.npz") as saved:
        assert saved["w"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert np.load(folder / "c.npy").tolist() == np.eye(3).tolist()
    with Image.open(folder / "d.png") as png, Image.open(folder / "e.jpg") as jpg:
        assert (png.format, png.size, jpg.format) == ("PNG", (6, 4), "JPEG")


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = files.write_text(tmp_path / "state.json", "old")
    with pytest.raises(RuntimeError), files.replacing(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("the process fails mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    (tmp_path / "taken").mkdir()  # a folder where the file should go: one line naming it
    with pytest.raises(ProganError, match="cannot write .*taken"):
        files.write_text(tmp_path / "taken", "new")
    with pytest.raises(ProganError, match="cannot write .*typo/x.txt: No such file"):
        files.write_text(tmp_path / "typo" / "x.txt", "new")  # no folder made for a typo
    with pytest.raises(ProganError, match=r"cannot write .*grid\.txt: name it \.png"):
        files.save_image(tmp_path / "grid.txt", np.zeros((2, 2, 3), np.uint8))
    # an input the block reads that fails is named as what failed, not the file being written
    with pytest.raises(ProganError, match=r"cannot read .*gone\.npy: No such file"):
        with files.replacing(tmp_path / "out.npy") as tmp:
            tmp.write_bytes(np.load(tmp_path / "gone.npy").tobytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "taken"]


def test_a_killed_writer_leaves_the_old_image_and_no_image_a_folder_would_read(tmp_path):
    """SIGKILL mid-write, where no clean-up runs: the target is the old one, whole, and the
    leftover temporary file is no image to a data folder."""
    files.save_image(tmp_path / "0001.png", np.full((4, 4, 3), 7, np.uint8))
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from progan import files
        with files.replacing(Path({str(tmp_path / "0001.png")!r})) as tmp:
            tmp.write_bytes(b"\\x89PNG half")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert subprocess.run([sys.executable, "-c", script]).returncode == -9
    assert len(list(tmp_path.iterdir())) == 2  # the image and the leftover
    with Image.open(tmp_path / "0001.png") as image:
        assert np.asarray(image).max() == 7
    assert [p.name for p in FolderSource(tmp_path).files] == ["0001.png"]
