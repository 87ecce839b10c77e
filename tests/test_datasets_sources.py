"""``--data`` names: the laundry sets built on first use, and CIFAR-10 / STL-10 read offline
from tiny files in their real formats."""

from __future__ import annotations

import collections
import dataclasses
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from config import COLORS, LaundryConfig
from progan.datasets import named_source
from progan.datasets.stl10 import CLASSES as STL_CLASSES
from progan.errors import ProganError
from progan.recolor import read_labels

TINY = dataclasses.replace(LaundryConfig(), n=2, seed=6, size=(180, 320))


def test_laundry_is_generated_on_first_use_and_reused(tmp_path):
    source = named_source("laundry", tmp_path, TINY)
    assert source.name == "laundry" and len(source) == 2
    images = list(source.images())
    assert [image.shape for image in images] == [(180, 320, 3)] * 2
    assert (tmp_path / "laundry" / "masks" / "00001.png").is_file()
    fingerprint = source.fingerprint()
    assert named_source("laundry", tmp_path, TINY).fingerprint() == fingerprint


def test_laundry_recolored_holds_originals_and_every_color_without_masks(tmp_path):
    source = named_source("laundry-recolored", tmp_path, TINY)
    assert source.name == "laundry-recolored"
    assert len(source) == 2 * len(COLORS)
    root = tmp_path / "laundry-recolored" / "images"
    assert all("mask" not in str(path.relative_to(root)) for path in source.files)
    originals = sorted((root / "original").iterdir())
    assert [p.resolve() for p in originals] == sorted(
        (tmp_path / "laundry" / "images").resolve().iterdir()
    )
    labels = read_labels(root / "labels.csv")
    assert sorted(label.file for label in labels) == sorted(
        str(path.relative_to(root)) for path in source.files
    )
    assert collections.Counter(label.color for label in labels) == {c: 2 for c in COLORS}
    fingerprint = source.fingerprint()
    assert named_source("laundry-recolored", tmp_path, TINY).fingerprint() == fingerprint


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("imagenet", "laundry, laundry-recolored, shapes, cifar10:CLASS, stl10:CLASS"),
        ("cifar10", "needs a class after the colon: airplane, automobile"),
        ("cifar10:unicorn", "CIFAR-10 has no class 'unicorn'; choose one of airplane"),
        ("stl10:automobile", "STL-10 has no class 'automobile'; choose one of airplane, bird, car"),
        ("laundry:red", "neither a folder nor a named data set"),
    ],
)
def test_unknown_specs_list_what_is_accepted(tmp_path, spec, message):
    with pytest.raises(ProganError, match=message):
        named_source(spec, tmp_path)


# --- CIFAR-10 -----------------------------------------------------------------------------------

CIFAR_AUTOMOBILE = 1


def cifar_image(tag: int) -> np.ndarray:
    """32×32 RGB whose channels and position are all distinguishable: R row, G column, B tag."""
    rows, cols = np.mgrid[0:32, 0:32]
    return np.stack([rows * 7, cols * 5, np.full((32, 32), tag)], axis=-1).astype(np.uint8)


def cifar_batch(images: list[np.ndarray], labels: list[int]) -> bytes:
    """A batch file as in cifar-10-python.tar.gz: a pickled dict with bytes keys whose
    ``data`` rows are 1024 red, then 1024 green, then 1024 blue values, row-major.

    The real files were written by Python 2; protocol 4 is the nearest a Python 3 writer gets,
    and it rebuilds the array through the same numpy globals keras's safe unpickler allows.
    """
    data = np.stack([np.concatenate([im[..., c].ravel() for c in range(3)]) for im in images])
    batch = {
        b"batch_label": b"tiny batch",
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img{i}.png".encode() for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=4)


@pytest.fixture
def tiny_cifar_cache(tmp_path, monkeypatch) -> Path:
    """The keras 3.15 cache with a tiny CIFAR-10 archive, where ``load_data`` looks for it.

    keras keeps the downloaded archive as ``datasets/cifar-10-batches-py-target_archive``,
    checks it against the real file's SHA-256 and extracts it on every call; only that hash
    check is bypassed (for this archive alone), the rest of the real loader runs.

    Each training batch holds one image: keras copies batch i into rows 10000·i … 10000·i+9999
    of a preallocated array, so a one-image batch fills its block by broadcasting, while a
    batch of 2 to 9999 images could not be loaded at all.
    """
    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    members = {
        f"data_batch_{i}": cifar_batch([cifar_image(10 + i)], [label])
        for i, label in zip(range(1, 6), [1, 0, 1, 9, 3], strict=True)
    }
    test_images = [cifar_image(100 + i) for i in range(4)]
    members["test_batch"] = cifar_batch(test_images, [2, 1, 1, 0])
    members["batches.meta"] = pickle.dumps({b"label_names": []}, protocol=4)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    home = tmp_path / "keras"
    target = home / "datasets" / "cifar-10-batches-py-target_archive"
    target.parent.mkdir(parents=True)
    target.write_bytes(buffer.getvalue())

    real_validate = file_utils.validate_file

    def validate(path, file_hash, algorithm="auto", chunk_size=65535):
        if Path(path) == target:
            return True
        return real_validate(path, file_hash, algorithm, chunk_size)

    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(home))
    monkeypatch.setattr(file_utils, "validate_file", validate)
    return home


def test_cifar10_class_loads_through_keras_offline(tiny_cifar_cache, tmp_path):
    source = named_source("cifar10:Automobile", tmp_path)
    assert source.name == "cifar10-automobile"
    # batches 1 and 3 (10,000 rows each) and test images 1 and 2
    assert source.array.shape == (20_002, 32, 32, 3) and source.array.dtype == np.uint8
    tags = collections.Counter(int(t) for t in source.array[:, 0, 0, 2])
    assert tags == {11: 10_000, 13: 10_000, 101: 1, 102: 1}
    assert np.array_equal(source.array[-1], cifar_image(102))
    assert (tiny_cifar_cache / "datasets" / "cifar-10-batches-py-target").is_dir()


def test_cifar10_without_cache_or_network_says_how_to_fix_it(tmp_path, monkeypatch):
    from keras.src.backend import config as keras_config
    from keras.src.datasets import cifar10

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://www.cs.toronto.edu: None -- offline")

    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(cifar10, "get_file", offline)
    with pytest.raises(ProganError, match="could not be loaded.*cifar-10-python.tar.gz"):
        named_source("cifar10:automobile", tmp_path)


# --- STL-10 -------------------------------------------------------------------------------------


def stl_image(tag: int) -> np.ndarray:
    """96×96 RGB, asymmetric in rows and columns so a transposed read would show."""
    rows, cols = np.mgrid[0:96, 0:96]
    return np.stack([rows * 2, cols, (rows + 3 * cols + tag) % 256], axis=-1).astype(np.uint8)


def write_stl_split(folder: Path, split: str, tags: list[int], labels: list[int]) -> None:
    """``{split}_X.bin``: per image the red, green, blue planes, each column-major (Fortran
    order), as the STL-10 binary format specifies; ``{split}_y.bin``: one label byte, 1-based."""
    folder.mkdir(parents=True, exist_ok=True)
    planes = [
        stl_image(tag)[..., channel].flatten(order="F") for tag in tags for channel in range(3)
    ]
    (folder / f"{split}_X.bin").write_bytes(np.concatenate(planes).tobytes())
    (folder / f"{split}_y.bin").write_bytes(bytes(labels))


def test_stl10_class_loads_from_the_binary_files_padded_to_128(tmp_path):
    car = STL_CLASSES.index("car") + 1
    folder = tmp_path / "stl10_binary"
    write_stl_split(folder, "train", [1, 2, 3, 4, 5], [car, 1, car, 10, 2])
    write_stl_split(folder, "test", [6, 7], [4, car])
    source = named_source("stl10:car", tmp_path)
    assert source.name == "stl10-car"
    assert source.array.shape == (3, 128, 128, 3) and source.array.dtype == np.uint8
    for image, tag in zip(source.array, [1, 3, 7], strict=True):
        assert np.array_equal(image[16:112, 16:112], stl_image(tag))
        border = image.copy()
        border[16:112, 16:112] = 0
        assert not border.any()


def test_stl10_test_split_is_optional(tmp_path):
    write_stl_split(tmp_path / "stl10_binary", "train", [1, 2], [3, 3])
    assert len(named_source("stl10:car", tmp_path)) == 2


def test_stl10_missing_or_truncated_files_are_explained(tmp_path):
    expected = r"put train_X.bin and train_y.bin .*/stl10_binary; get them"
    with pytest.raises(ProganError, match=expected):
        named_source("stl10:car", tmp_path)
    folder = tmp_path / "stl10_binary"
    write_stl_split(folder, "train", [1, 2], [3, 3])
    (folder / "train_X.bin").write_bytes((folder / "train_X.bin").read_bytes()[:-100])
    with pytest.raises(ProganError, match="truncated"):
        named_source("stl10:car", tmp_path)


def test_grey_shapes_are_grey_the_same_on_every_call_and_a_named_source(tmp_path):
    from progan.datasets import shapes

    first, again = shapes.draw_item(7, 32, 0), shapes.draw_item(7, 32, 0)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (32, 32) and first.dtype == np.uint8
    assert first.max() > 60 and (first[0] == 0).all()  # an item on black
    assert not np.array_equal(first, shapes.draw_item(8, 32, 0))
    made = shapes.generate(tmp_path / "shapes", n=12)
    with Image.open(made / "00003.png") as image:
        assert image.mode == "L"
        np.testing.assert_array_equal(np.asarray(image), shapes.draw_item(3, 32, 0))
    source = named_source("shapes", tmp_path)  # the set made above, not made again
    assert len(source) == 12 and source.name == "shapes"
