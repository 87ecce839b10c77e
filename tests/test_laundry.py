"""The procedural laundry-belt data set: determinism, masks, color mix, files and CLI."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.color import rgb2hsv

from config import LaundryConfig
from progan.cli import run
from progan.datasets.__main__ import main
from progan.datasets.laundry import generate
from progan.datasets.laundry.scene import make_example, render, sample_scene, without_items
from progan.errors import ProganError

FULL = LaundryConfig()
SMALL = dataclasses.replace(FULL, size=(180, 320))


@pytest.fixture(scope="module")
def full_examples():
    """Four photos at the real 1280×720 size (about two seconds)."""
    return [make_example(0, index, FULL) for index in range(4)]


@pytest.fixture(scope="module")
def small_batch():
    """Twenty-four scenes at 320×180: the same scenes as at full size, only smaller."""
    return [make_example(11, index, SMALL) for index in range(24)]


def test_same_seed_and_index_give_identical_image_and_masks(full_examples):
    again = make_example(0, 2, FULL)
    first = full_examples[2]
    assert again.image.shape == (720, 1280, 3) and again.image.dtype == np.uint8
    assert np.array_equal(again.image, first.image)
    assert np.array_equal(again.mask, first.mask)
    assert np.array_equal(again.instances, first.instances)


def test_different_seeds_and_indices_differ(full_examples):
    other_seed = make_example(1, 2, FULL)
    assert not np.array_equal(other_seed.mask, full_examples[2].mask)
    assert np.abs(other_seed.image.astype(int) - full_examples[2].image).mean() > 5
    assert not np.array_equal(full_examples[0].mask, full_examples[1].mask)


def test_masks_cover_a_plausible_share(full_examples, small_batch):
    for example in full_examples + small_batch:
        assert set(np.unique(example.mask)) <= {0, 255}
        assert np.array_equal(example.mask > 0, example.instances > 0)
        share = (example.mask > 0).mean()
        assert 0.03 < share < 0.7, share
        top, bottom = example.scene.belt.top, example.scene.belt.bottom
        assert not example.mask[:top].any() and not example.mask[bottom:].any()
        visible = {int(k) for k in np.unique(example.instances)} - {0}
        assert visible and visible <= set(range(1, len(example.scene.items) + 1))
    shares = [(e.mask > 0).mean() for e in small_batch]
    assert 0.12 < np.mean(shares) < 0.45


def test_mask_matches_the_item_pixels(full_examples):
    """Re-render the same belt without items: outside the mask the photo may only be darker
    (item shadows); inside it the cloth replaces the belt."""
    example = full_examples[1]
    belt = render(without_items(example.scene)).image.astype(int)
    photo = example.image.astype(int)
    inside = example.mask > 0
    near_edge = ndimage.binary_dilation(inside, iterations=2)
    outside = ~near_edge
    assert (photo - belt)[outside].max() <= 1
    assert (photo - belt)[outside].min() < -20, "items cast no shadow"
    assert np.abs(photo - belt).sum(axis=-1)[inside].mean() > 60


def test_most_items_are_white_or_grey_and_a_minority_colored(small_batch):
    medians = []
    for example in small_batch:
        saturation = rgb2hsv(example.image)[..., 1]
        for k in range(1, len(example.scene.items) + 1):
            pixels = saturation[example.instances == k]
            if pixels.size >= 100:
                medians.append(np.median(pixels))
    medians = np.array(medians)
    assert len(medians) >= 30
    white = (medians < 0.2).mean()
    assert 0.55 < white < 0.9, white
    assert (medians > 0.25).mean() > 0.1


def test_items_are_shaded_like_cloth_not_flat(small_batch):
    """Folds and soft shading spread the brightness of an item; a flat polygon would not."""
    spreads = []
    for example in small_batch:
        value = rgb2hsv(example.image)[..., 2]
        eroded = ndimage.binary_erosion(example.instances > 0, iterations=3)
        for k in range(1, len(example.scene.items) + 1):
            pixels = value[eroded & (example.instances == k)]
            if pixels.size >= 100:
                spreads.append(pixels.std() / pixels.mean())
    assert np.median(spreads) > 0.07


def test_scenes_hold_one_to_three_items_of_every_kind():
    scenes = [sample_scene(np.random.default_rng([5, i]), FULL) for i in range(60)]
    counts = {len(s.items) for s in scenes}
    kinds = {item.garment.kind for s in scenes for item in s.items}
    patterns = {item.garment.pattern for s in scenes for item in s.items}
    assert counts == {1, 2, 3}
    assert kinds == {"towel", "sheet", "pillowcase", "shirt", "trousers"}
    assert {"plain", "stripes", "checks", "border"} <= patterns


def test_generate_writes_the_same_files_with_one_or_two_workers(tmp_path):
    cfg = dataclasses.replace(SMALL, n=8, seed=3)
    one = generate(tmp_path / "one", cfg, workers=1)
    two = generate(tmp_path / "two", cfg, workers=2)
    for sub, suffix in (("images", "jpg"), ("masks", "png"), ("instances", "png")):
        names = sorted(p.name for p in (one / sub).iterdir())
        assert names == [f"{i:05d}.{suffix}" for i in range(8)]
        for name in names:
            assert (one / sub / name).read_bytes() == (two / sub / name).read_bytes()
    assert (one / "manifest.json").read_text() == (two / "manifest.json").read_text()
    with Image.open(one / "images" / "00003.jpg") as photo:
        assert photo.size == (320, 180) and photo.mode == "RGB"
    expected = make_example(3, 3, cfg)
    assert np.array_equal(np.asarray(Image.open(one / "masks" / "00003.png")), expected.mask)
    manifest = json.loads((one / "manifest.json").read_text())
    listed = manifest["images"][3]["items"]
    assert [item["kind"] for item in listed] == [i.garment.kind for i in expected.scene.items]


def test_generate_resumes_and_skips_a_complete_set(tmp_path):
    cfg = dataclasses.replace(SMALL, n=3, seed=4)
    out = generate(tmp_path / "set", cfg, workers=1)
    photo = out / "images" / "00001.jpg"
    original = photo.read_bytes()
    photo.unlink()
    (out / "manifest.json").unlink()
    untouched = (out / "images" / "00002.jpg").stat().st_mtime_ns
    generate(out, cfg, workers=1)
    assert photo.read_bytes() == original
    assert (out / "images" / "00002.jpg").stat().st_mtime_ns == untouched
    stamp = (out / "manifest.json").stat().st_mtime_ns
    generate(out, cfg, workers=1)
    assert (out / "manifest.json").stat().st_mtime_ns == stamp

    other = generate(out, dataclasses.replace(cfg, seed=5), workers=1)
    assert photo.read_bytes() != original
    assert json.loads((other / "manifest.json").read_text())["settings"]["seed"] == 5


def test_generate_refuses_a_folder_that_is_not_a_laundry_set(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ProganError, match="not empty"):
        generate(tmp_path, dataclasses.replace(SMALL, n=1), workers=1)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    # another project's settings.json, valid or not, does not make its images/ ours to clear
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "theirs.jpg").write_bytes(b"keep")
    for marker in ('{"project": "not laundry"}', "not json"):
        (tmp_path / "settings.json").write_text(marker)
        with pytest.raises(ProganError, match="holds no laundry data set"):
            generate(tmp_path, dataclasses.replace(SMALL, n=1), workers=1)
        assert (tmp_path / "images" / "theirs.jpg").read_bytes() == b"keep"


def test_cli_writes_a_set_and_a_contact_sheet(tmp_path, capsys):
    out = tmp_path / "laundry"
    argv = ["laundry", "--n", "2", "--seed", "9", "--size", "320x180", "--out", str(out)]
    assert main([*argv, "--workers", "1"]) == 0
    assert len(list((out / "masks").glob("*.png"))) == 2
    sheet = tmp_path / "sheet.png"
    assert main(["sheet", "--data", str(out), "--out", str(sheet), "--count", "2"]) == 0
    with Image.open(sheet) as image:
        assert image.width > 2 * 300 and image.height > 2 * 160
    strip = tmp_path / "strip.png"
    assert main(["strip", "--data", str(out), "--out", str(strip)]) == 0
    with Image.open(strip) as image:
        assert image.width > 5 * 320
    assert "2 images of 320x180" in capsys.readouterr().out
    with pytest.raises(ProganError, match="--out .*sheet must end in .png"):
        main(["sheet", "--data", str(out), "--out", str(tmp_path / "sheet")])
    (tmp_path / "file").write_text("")
    with pytest.raises(ProganError, match="cannot write"):
        main(["strip", "--data", str(out), "--out", str(tmp_path / "file" / "s.png")])


def test_cli_recolored_set_of_n_photos_in_every_color(tmp_path, capsys):
    """--n sets the photos of the recolored set; the first photos are those of a smaller set."""
    assert main(["laundry-recolored", "--root", str(tmp_path), "--n", "3", "--workers", "1"]) == 0
    images = tmp_path / "laundry-recolored" / "images"
    with open(images / "labels.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * 5 and {row["color"] for row in rows} == {
        "original",
        "red",
        "green",
        "blue",
        "white",
    }
    last = make_example(LaundryConfig().seed, 2, LaundryConfig()).image.astype(float)
    with Image.open(images / "original" / "00002.jpg") as photo:
        assert np.abs(np.asarray(photo, float) - last).mean() < 3  # the same photo, as JPEG
    assert "laundry photos in every color" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["laundry", "--n", "0"], "--n: must be a whole number from 1"),
        (["laundry", "--seed", "-1"], "--seed: must be a whole number from 0 to 4294967295"),
        (["laundry-recolored", "--workers", "0"], "--workers: must be a whole number from 1"),
        (["laundry", "--size", "big"], "WIDTHxHEIGHT"),
        (["laundry", "--size", "100x50"], "at least 160x90"),
        (["sheet", "--data", "nowhere", "--out", "x.png"], "not a laundry data set"),
        (["paint"], "invalid choice"),
    ],
)
def test_cli_mistakes_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        run(main, [*argv, *(["--out", str(tmp_path / "o")] if argv[0] == "laundry" else [])])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
