"""Mask-based recoloring: hue at the target, shading kept, outside untouched, labels right."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.color import rgb2hsv

from config import COLOR_HUES, LaundryConfig, RecolorConfig
from progan.cli import run
from progan.colors import class_of_images
from progan.datasets.laundry.scene import make_example
from progan.errors import ProganError
from progan.recolor import (
    main,
    read_labels,
    recolor,
    recolor_all,
    recolor_folder,
)

SMALL = dataclasses.replace(LaundryConfig(), size=(180, 320))


@pytest.fixture(scope="module")
def photos():
    """Laundry photos with white and colored items, and their masks."""
    examples = [make_example(21, index, SMALL) for index in range(6)]
    return [(e.image, e.mask) for e in examples]


def circular_mean(hue: np.ndarray, weight: np.ndarray) -> float:
    angle = 2 * np.pi * hue
    mean = np.angle(np.sum(weight * np.exp(1j * angle)))
    return float((mean / (2 * np.pi)) % 1.0)


def circular_distance(a: float, b: float) -> float:
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


@pytest.mark.parametrize("color", ["red", "green", "blue"])
def test_hue_lands_on_the_target_and_shading_survives(photos, color):
    for image, mask in photos:
        out = recolor(image, mask, color)
        inside = mask > 0
        assert np.array_equal(out[~inside], image[~inside])
        before, after = rgb2hsv(image)[inside], rgb2hsv(out)[inside]
        lit = after[:, 2] > 0.15
        weight = after[lit, 1] * after[lit, 2]
        assert circular_distance(circular_mean(after[lit, 0], weight), COLOR_HUES[color]) < 0.01
        assert np.abs(after[:, 2] - before[:, 2]).max() <= 1 / 255 + 1e-6
        assert np.corrcoef(after[:, 2], before[:, 2])[0, 1] > 0.999


def test_white_cloth_gains_enough_saturation_to_show_the_color(photos):
    grey_pixels = 0
    for image, mask in photos:
        before = rgb2hsv(image)
        after = rgb2hsv(recolor(image, mask, "green"))
        grey = (mask > 0) & (before[..., 1] < 0.1) & (before[..., 2] > 0.4)
        grey_pixels += grey.sum()
        assert (after[..., 1][grey] > 0.47).all()
        rgb = recolor(image, mask, "green")[grey].astype(int)
        assert (rgb[:, 1] > rgb[:, 0] + 30).all() and (rgb[:, 1] > rgb[:, 2] + 30).all()
    assert grey_pixels > 10_000, "the fixture must contain white cloth"


def test_white_is_white_cloth_with_the_same_folds(photos):
    """A tenth of the saturation, each piece of cloth lifted to white by one gain: folds stay
    folds, the classifier calls the item white, and the belt is untouched."""
    cfg = RecolorConfig()
    darkest = 1.0
    for image, mask in photos:
        out = recolor(image, mask, "white")
        inside = mask > 0
        assert np.array_equal(out[~inside], image[~inside])
        before, after = rgb2hsv(image), rgb2hsv(out)
        assert (after[..., 1][inside] <= cfg.white_factor * before[..., 1][inside] + 0.02).all()
        pieces, count = ndimage.label(inside)
        for piece in range(1, count + 1):
            members = pieces == piece
            old, new = before[..., 2][members], after[..., 2][members]
            darkest = min(darkest, float(np.quantile(old, cfg.white_quantile)))
            lifted = np.quantile(new, cfg.white_quantile)
            assert lifted >= min(cfg.white_value, np.quantile(old, cfg.white_quantile)) - 0.01
            unclipped = (new < 0.99) & (old > 0.1)
            ratio = new[unclipped] / old[unclipped]  # one gain per piece: shading kept
            assert ratio.std() < 0.03 and ratio.mean() >= 1 - 0.01
        small = np.asarray(Image.fromarray(out).resize((80, 45), Image.BOX))
        assert class_of_images(small[None]) == ["white"]
    assert darkest < 0.6, "the fixture must hold dark cloth that white has to lift"


def test_recolor_all_matches_one_color_at_a_time(photos):
    image, mask = photos[0]
    together = recolor_all(image, mask, ["blue", "white"])
    assert np.array_equal(together["blue"], recolor(image, mask, "blue"))
    assert np.array_equal(together["white"], recolor(image, mask, "white"))


def test_an_empty_mask_changes_nothing(photos):
    image, _ = photos[0]
    assert np.array_equal(recolor(image, np.zeros(image.shape[:2], np.uint8), "red"), image)


@pytest.mark.parametrize(
    ("colors", "message"),
    [(["purple"], "unknown color 'purple'"), (["red", "red"], "repeat"), ([], "at least one")],
)
def test_bad_colors_say_what_is_allowed(photos, colors, message):
    image, mask = photos[0]
    with pytest.raises(ProganError, match=message):
        recolor_all(image, mask, colors)


def test_a_mask_of_another_size_is_refused(photos):
    image, _ = photos[0]
    with pytest.raises(ProganError, match="masks must match"):
        recolor(image, np.zeros((10, 10), np.uint8), "red")


def write_pairs(folder: Path, photos, count: int) -> tuple[Path, Path]:
    images, masks = folder / "images", folder / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    for index, (image, mask) in enumerate(photos[:count]):
        Image.fromarray(image).save(images / f"photo{index}.png")
        Image.fromarray(mask).save(masks / f"photo{index}.png")
    return images, masks


def test_folder_is_balanced_and_labels_match_the_files(tmp_path, photos):
    images, masks = write_pairs(tmp_path, photos, 3)
    out = tmp_path / "out"
    labels = recolor_folder(images, masks, out, workers=1)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert sorted(label.file for label in labels) == written
    assert read_labels(out / "labels.csv") == labels
    for color in COLOR_HUES:
        assert sorted(label.source for label in labels if label.color == color) == [
            f"photo{i}.png" for i in range(3)
        ]
    for label in labels:
        source = np.asarray(Image.open(images / label.source))
        mask = np.asarray(Image.open(masks / label.source)) > 0
        result = np.asarray(Image.open(out / label.file))
        assert np.array_equal(result[~mask], source[~mask])
        assert np.array_equal(result, recolor(source, mask.astype(np.uint8) * 255, label.color))


def test_jpeg_output_for_training_sets(tmp_path, photos):
    images, masks = write_pairs(tmp_path, photos, 1)
    labels = recolor_folder(images, masks, tmp_path / "out", ["red"], fmt="jpg", workers=1)
    assert [label.file for label in labels] == ["red/photo0.jpg"]
    with Image.open(tmp_path / "out" / "red" / "photo0.jpg") as result:
        assert result.format == "JPEG"


def test_missing_or_mismatched_masks_are_refused(tmp_path, photos):
    images, masks = write_pairs(tmp_path, photos, 2)
    (masks / "photo1.png").unlink()
    with pytest.raises(ProganError, match="1 images have no mask.*photo1.png"):
        recolor_folder(images, masks, tmp_path / "out", workers=1)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(masks / "photo1.png")
    with pytest.raises(ProganError, match="mask photo1.png is 5x5 but image photo1.png is 320x180"):
        recolor_folder(images, masks, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()


def test_cli_writes_every_color(tmp_path, photos, capsys):
    images, masks = write_pairs(tmp_path, photos, 2)
    out = tmp_path / "out"
    argv = ["--images", str(images), "--masks", str(masks), "--out", str(out)]
    assert main([*argv, "--colors", "red", "white", "--workers", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", "red", "white"]
    assert "wrote 4 images (2 × 2 colors)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--colors", "purple"], "unknown color 'purple'; choose from red, green, blue, white"),
        (["--format", "gif"], "unknown format 'gif'"),
        (["--masks", "nowhere"], "--masks nowhere is not a folder"),
        (["--workers", "0"], "--workers: must be a whole number from 1 to 2147483647, got '0'"),
    ],
)
def test_cli_mistakes_are_one_line_and_exit_2(tmp_path, photos, capsys, extra, message):
    images, masks = write_pairs(tmp_path, photos, 1)
    argv = ["--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "o"), *extra]
    with pytest.raises(SystemExit) as exit_info:
        run(main, argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
