"""The pixel color classifier, color prototypes and the color shift of :mod:`progan.colors`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage.color import hsv2rgb

from config import ColorEvaluationConfig
from progan import colors
from progan.errors import ProganError
from progan.latent import seed_latents
from tests.stubs import BELT_GREY, ConditionalColorGenerator, LinearColorGenerator

HUES = {"red": 0.0, "green": 1 / 3, "blue": 2 / 3}
GREY_BELT = (BELT_GREY, BELT_GREY, BELT_GREY)


def rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    pixel = hsv2rgb(np.array([[[hue % 1, saturation, value]]]))[0, 0]
    return tuple(round(c * 255) for c in pixel)


def scene(item_colors: list[tuple[int, int, int]], belt=GREY_BELT, item_share=0.25, noise=0):
    """A 48×80 belt with one centered item made of vertical stripes of ``item_colors``."""
    image = np.empty((48, 80, 3), np.float64)
    image[:] = belt
    side = np.sqrt(item_share)
    height, width = round(48 * side), round(80 * side)
    top, left = (48 - height) // 2, (80 - width) // 2
    stripes = np.array_split(np.arange(left, left + width), len(item_colors))
    for columns, color in zip(stripes, item_colors, strict=True):
        image[top : top + height, columns] = color
    image += np.random.RandomState(0).uniform(-noise, noise, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def classify(image: np.ndarray) -> str:
    return colors.class_of_images(image[None])[0]


# Classifier --------------------------------------------------------------------------------------


@pytest.mark.parametrize("color", list(HUES))
@pytest.mark.parametrize("hue_offset", [0.0, -0.05, 0.05])
@pytest.mark.parametrize("saturation, value", [(0.9, 0.9), (0.5, 0.45)])
def test_colored_items_are_classified(color, hue_offset, saturation, value) -> None:
    item = rgb(HUES[color] + hue_offset, saturation, value)
    assert classify(scene([item], noise=6)) == color


def test_white_item_on_grey_belt_is_white() -> None:
    assert classify(scene([rgb(0.6, 0.05, 0.95)], noise=6)) == "white"


@pytest.mark.parametrize(
    "belt",
    [
        rgb(2 / 3, 0.3, 0.5),  # a blue-tinted belt: saturation below the colored threshold
        rgb(0.0, 0.9, 0.2),  # a deep red but dark belt: too dark for its hue to count
        rgb(1 / 3, 0.15, 0.6),  # a light greenish grey
    ],
)
def test_white_item_on_a_colored_belt_is_white(belt) -> None:
    image = scene([rgb(0.1, 0.08, 0.92)], belt=belt, item_share=0.15, noise=6)
    assert classify(image) == "white"
    # Every belt pixel is ignored: the laundry is the item, all of it white.
    shares, laundry = colors.color_shares(image[None])
    np.testing.assert_allclose(laundry, 0.15, atol=0.01)
    np.testing.assert_allclose(shares[0], [0, 0, 0, 1])


def test_red_item_on_a_tinted_belt_is_red() -> None:
    assert classify(scene([rgb(0.0, 0.8, 0.8)], belt=rgb(2 / 3, 0.3, 0.5), noise=6)) == "red"


def test_evenly_mixed_item_is_none() -> None:
    stripes = [rgb(0, 0.9, 0.9), rgb(1 / 3, 0.9, 0.9), rgb(2 / 3, 0.9, 0.9), rgb(0, 0.02, 0.95)]
    image = scene(stripes)
    np.testing.assert_allclose(colors.color_shares(image[None])[0][0], 0.25, atol=0.02)
    assert classify(image) == "none"


@pytest.mark.parametrize(("red_share", "expected"), [(0.7, "red"), (0.6, "none"), (0.5, "none")])
def test_a_color_must_dominate_the_runner_up(red_share: float, expected: str) -> None:
    # Ten stripes: red_share of them red, the rest green. Default dominance is 2×.
    stripes = [rgb(0, 0.9, 0.9)] * round(10 * red_share) + [rgb(1 / 3, 0.9, 0.9)] * round(
        10 * (1 - red_share)
    )
    assert classify(scene(stripes)) == expected


def test_no_laundry_or_laundry_of_no_class_is_none() -> None:
    assert classify(scene([GREY_BELT])) == "none"
    assert classify(scene([rgb(0, 0.9, 0.9)], item_share=0.01)) == "none"
    assert classify(scene([rgb(1 / 6, 0.9, 0.9)])) == "none"  # yellow
    assert classify(scene([rgb(2 / 3, 0.9, 0.15)])) == "none"  # too dark to judge


def test_color_shares_measure_the_item() -> None:
    image = scene([rgb(2 / 3, 0.9, 0.9), rgb(0, 0.03, 0.9)], item_share=0.2)
    shares, laundry = colors.color_shares(image[None])
    np.testing.assert_allclose(laundry, 0.2, atol=0.01)
    np.testing.assert_allclose(shares[0], [0, 0, 0.5, 0.5], atol=0.02)


def test_classifier_rejects_non_images() -> None:
    with pytest.raises(ProganError, match="uint8"):
        colors.class_of_images(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ProganError, match="not one of original, red"):
        colors.check_color("pink")


# Prototypes on a generator whose color is linear in the latent -----------------------------------

N = 30
RES = "10x6"


def item_classes(g: LinearColorGenerator, latents: np.ndarray) -> list[str]:
    """What the stub's images must be classified as: the class of the item's color alone."""
    return colors.class_of_images(g.item_colors(latents)[:, None, None, :])


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> tuple[LinearColorGenerator, colors.Prototypes]:
    g = LinearColorGenerator(tmp_path_factory.mktemp("stub"))
    return g, colors.with_success(g, colors.compute_prototypes(g, n=N, res=RES), count=200)


def test_prototypes_average_the_first_n_latents_of_each_color(computed) -> None:
    g, found = computed
    latents = seed_latents(found.sample_seeds, g.latent_dim)
    classes = np.array(item_classes(g, latents))
    for color in colors.CLASSES:
        members = latents[classes == color][:N]
        assert found.counts[color] == len(members) == N
        np.testing.assert_allclose(found.vectors[color], members.mean(axis=0), rtol=1e-5)
        assert found.sampled_classes[color] == (classes == color).sum()
    # Sampling stopped within one chunk of the seed that completed the last color.
    last = max(np.flatnonzero(classes == color)[N - 1] for color in colors.CLASSES)
    assert last < len(found.sample_seeds) <= last + colors.CLASSIFY_CHUNK + 1


def test_prototypes_point_to_their_color(computed) -> None:
    g, found = computed
    signs = {
        "red": [1, -1, -1],
        "green": [-1, 1, -1],
        "blue": [-1, -1, 1],
        "white": [1, 1, 1],
    }
    for color, sign in signs.items():
        head, tail = found.vectors[color][:3], found.vectors[color][3:]
        # The dimensions that set the item's color are strong and signed as the color needs,
        # the ones the stub ignores average out.
        assert (np.sign(head) == sign).all() and np.abs(head).min() > 0.3
        assert np.abs(tail).max() < 0.6
    prototype_images = g.render(np.stack([found.vectors[c] for c in colors.CLASSES]), RES)
    assert colors.class_of_images(prototype_images) == list(colors.CLASSES)


def test_shift_is_minus_source_plus_target(computed) -> None:
    _, found = computed
    z = seed_latents([1, 2, 3, 4], 8)
    classes = ["red", "none", "white", "blue"]
    shifted = colors.shift_latents(z, classes, "green", found)
    p = found.vectors
    expected = z - np.stack([p["red"], p["white"], p["white"], p["blue"]]) + p["green"]
    np.testing.assert_allclose(shifted, expected, rtol=1e-6)
    np.testing.assert_array_equal(colors.shift_latents(z, classes, "original", found), z)
    # Shifting to a latent's own color changes nothing.
    np.testing.assert_allclose(colors.shift_latents(z[:1], ["red"], "red", found), z[:1])


def test_success_rate_is_measured_on_the_shifted_images(computed) -> None:
    g, found = computed
    assert found.success_seeds == range(2**31, 2**31 + 200)
    latents = seed_latents(found.success_seeds, g.latent_dim)
    sources = [colors.source_prototype(name) for name in item_classes(g, latents)]
    for color in colors.CLASSES:
        moved = latents - np.stack([found.vectors[s] for s in sources]) + found.vectors[color]
        hits = np.mean(np.array(item_classes(g, moved)) == color)
        assert found.success_rates[color] == pytest.approx(hits)
    # On this generator the shift works for the hue colors far better than chance (about 1/7
    # of seeds are red by themselves); white is a small corner of color space and a 'none'
    # image shifts by zero towards it, so it is hit less often.
    for color in ("red", "green", "blue"):
        assert found.success_rates[color] > 0.6
    assert found.success_rates["white"] > 0.1


def test_render_seeds_in_a_color(computed, tmp_path: Path) -> None:
    g, found = computed
    colors.save_prototypes(g, found)
    seeds = list(range(100, 140))
    latents = seed_latents(seeds, g.latent_dim)
    expected = g.render(colors.shift_latents(latents, item_classes(g, latents), "blue", found), RES)
    blue = colors.render_seeds(g, seeds, RES, "blue", "prototype")
    np.testing.assert_array_equal(blue, expected)
    assert np.mean(np.array(colors.class_of_images(blue)) == "blue") > 0.6
    # The class that picks p_from is judged at the prototypes' resolution, so the shifted seed
    # is the same picture at every size.
    small = colors.render_seeds(g, seeds, "5x3", "blue", "prototype")
    shifted = colors.color_latents(g, latents, "blue", method="prototype")
    np.testing.assert_array_equal(small, g.render(shifted, "5x3"))
    np.testing.assert_array_equal(colors.render_seeds(g, seeds, RES), g.render(latents, RES))


def test_render_seeds_errors(computed) -> None:
    g, _ = computed
    with pytest.raises(ProganError, match="1 to 256 seeds"):
        colors.render_seeds(g, range(300))
    with pytest.raises(ProganError, match="available"):
        colors.render_seeds(g, [1], "8x8", "red")
    with pytest.raises(ProganError, match="not one of"):
        colors.render_seeds(g, [1], RES, "pink")


def test_prototypes_file_round_trip(computed, tmp_path: Path) -> None:
    _, found = computed
    g = LinearColorGenerator(tmp_path)
    path = colors.save_prototypes(g, found)
    assert path == tmp_path / "prototypes.json"
    assert [p.name for p in tmp_path.iterdir()] == ["prototypes.json"]  # no temporary left
    data = json.loads(path.read_text())
    assert data["prototypes"]["red"]["count"] == N and len(data["prototypes"]["red"]["vector"]) == 8
    assert data["success"]["seeds"] == {"start": 2**31, "count": 200}
    assert set(data["success"]["rates"]) == set(colors.CLASSES)
    assert data["res"] == RES and data["latent_dim"] == 8 and data["n"] == N
    assert g.prototypes == data
    # A generator loaded afterwards reads the same prototypes, bit for bit.
    again = colors.load_prototypes(LinearColorGenerator(tmp_path))
    for color in colors.CLASSES:
        np.testing.assert_array_equal(again.vectors[color], found.vectors[color])
    assert again.success_rates == found.success_rates
    assert again.sample_seeds == found.sample_seeds and again.counts == found.counts


def test_load_prototypes_errors(computed, tmp_path: Path) -> None:
    _, found = computed
    g = LinearColorGenerator(tmp_path)
    with pytest.raises(ProganError, match="python -m progan prototypes --model"):
        colors.load_prototypes(g)
    g.prototypes = {**found.to_json(), "prototypes": {}}
    with pytest.raises(ProganError, match="malformed"):
        colors.load_prototypes(g)
    with pytest.raises(ProganError, match="size 8 do not fit a model of size 4"):
        colors.save_prototypes(LinearColorGenerator(tmp_path, latent_dim=4), found)
    g.prototypes = found.to_json()
    g.latent_dim = 16
    with pytest.raises(ProganError, match="size 8, the model 16"):
        colors.load_prototypes(g)


def test_unwritable_model_folder_is_a_user_error(computed, tmp_path: Path) -> None:
    _, found = computed
    g = LinearColorGenerator(tmp_path / "missing")
    with pytest.raises(ProganError, match="cannot write"):
        colors.save_prototypes(g, found)


def test_a_color_never_drawn_is_an_error(tmp_path: Path) -> None:
    g = LinearColorGenerator(tmp_path)
    with pytest.raises(ProganError, match="classified .*white.*cannot be shifted"):
        colors.compute_prototypes(g, n=5, res=RES, max_samples=20)


# Boundaries, the conditional path and the color report -------------------------------------------


def test_fit_boundary_recovers_a_separating_direction():
    rng = np.random.default_rng(0)
    latents = rng.standard_normal((600, 16))
    direction = np.zeros(16)
    direction[[2, 5]] = [0.6, 0.8]
    inside = latents @ direction > 0.5
    boundary = colors.fit_boundary(latents, inside)
    assert float(boundary.normal @ direction) > 0.95
    assert np.mean((boundary.distance(latents) > 0) == inside) > 0.97
    assert boundary.target > 0  # the typical depth inside the color


def test_boundary_shift_moves_every_latent_to_the_color_s_typical_depth(computed) -> None:
    g, found = computed
    z = seed_latents(range(50), g.latent_dim)
    for color in colors.CLASSES:
        boundary = found.boundaries[color]
        moved = colors.shift_latents(z, [], color, found, "boundary")
        np.testing.assert_allclose(boundary.distance(moved), boundary.target, atol=1e-4)
        # the step is along the normal only: the rest of the latent stays
        rest = (moved - z) - np.outer((moved - z) @ boundary.normal, boundary.normal)
        assert np.abs(rest).max() < 1e-4
    rates = found.boundary_success_rates
    assert set(rates) == set(colors.CLASSES) and min(rates.values()) > 0.5
    again = colors.measure_success(g, found, found.success_seeds, method="boundary")
    assert again == rates


def test_prototypes_json_round_trips_boundaries(computed, tmp_path) -> None:
    _, found = computed
    back = colors.Prototypes.from_json(json.loads(json.dumps(found.to_json())))
    assert back.boundary_success_rates == found.boundary_success_rates
    np.testing.assert_array_equal(back.boundaries["red"].normal, found.boundaries["red"].normal)
    old = found.to_json() | {"boundaries": None}
    old["success"] = {k: v for k, v in old["success"].items() if k != "boundary_rates"}
    legacy = colors.Prototypes.from_json(old)  # a file from before boundaries existed
    assert legacy.boundaries is None and legacy.boundary_success_rates is None
    with pytest.raises(ProganError, match="no color boundaries"):
        colors.shift_latents(np.zeros((1, 8), np.float32), [], "red", legacy, "boundary")


def test_multicolored_needs_two_classes_each_past_the_threshold() -> None:
    cfg = ColorEvaluationConfig(multicolor_min_share=0.2)
    white = (235, 235, 235)
    halves = scene([rgb(0.0, 0.8, 0.8), white])
    thin = scene([rgb(0.0, 0.8, 0.8)] * 9 + [white])
    shares, laundry = colors.color_shares(np.stack([halves, thin]))
    assert colors.multicolored(shares, laundry, cfg).tolist() == [True, False]


def test_the_data_is_judged_by_the_classifier_that_judges_models() -> None:
    red, white = rgb(0.0, 0.8, 0.8), (235, 235, 235)
    images = np.stack([scene([red]), scene([white]), scene([red, white]), scene([white])])
    names = ["red", "red", "white", "original"]
    report = colors.data_color_report(images, names)
    assert report["accuracy_data_red"] == 0.5  # the white item labeled red is missed
    assert report["accuracy_data_white"] == 0.0  # half red, half white: no color dominates
    assert "accuracy_data_green" not in report  # no green image to judge
    assert report["multicolored_data"] == pytest.approx(1 / 3)  # of the 3 colored-class images


def test_a_conditional_model_draws_colors_by_label_and_keeps_the_item(tmp_path) -> None:
    g = ConditionalColorGenerator(tmp_path)
    images = colors.render_seeds(g, [1, 2], RES, "green")
    assert colors.class_of_images(images) == ["green", "green"]
    cfg = ColorEvaluationConfig(seeds=40)
    report = colors.color_report(g, RES, cfg=cfg)
    assert all(report[f"accuracy_{c}"] == 1.0 for c in colors.CLASSES)
    assert report["multicolored"] == 0.0
    assert report["shape_ssim"] > 0.3
    # the item's place comes from the latent: moving it breaks the shape kept across colors
    shuffled = ConditionalColorGenerator(tmp_path)
    shuffled.render = lambda z, res, labels=None: g.render(  # type: ignore[method-assign]
        np.roll(z, 1, axis=0) if labels != "original" else z, res, labels
    )
    assert colors.color_report(shuffled, RES, cfg=cfg)["shape_ssim"] < report["shape_ssim"]
    two_classes = type("TwoClasses", (), {"classes": ["red", "blue"]})()
    with pytest.raises(ProganError, match="not a class of this conditional model"):
        colors.color_label(two_classes, "green")


def test_color_report_of_an_unconditional_model_matches_the_success_rate(computed) -> None:
    g, found = computed
    cfg = ColorEvaluationConfig(seeds=200, seed_start=found.success_seeds.start)
    for method in colors.SHIFT_METHODS:
        report = colors.color_report(g, RES, method, found, cfg)
        for color in colors.CLASSES:
            assert report[f"accuracy_{color}"] == found.rates(method)[color]


def test_best_takes_for_each_color_the_method_that_measured_higher(computed) -> None:
    g, found = computed
    rates = {"prototype": found.success_rates, "boundary": found.boundary_success_rates}
    z = seed_latents(range(20), g.latent_dim)
    for color in colors.CLASSES:
        winner = max(rates, key=lambda method: (rates[method][color], method == "prototype"))
        assert colors.resolve_method(found, color, "best") == winner
        np.testing.assert_array_equal(
            colors.color_latents(g, z, color, found, "best"),
            colors.color_latents(g, z, color, found, winner),
        )
        assert found.rates("best")[color] == rates[winner][color]


def test_data_shape_ssim_is_one_for_identical_versions_and_lower_for_moved_items():
    rng = np.random.default_rng(5)
    photos = rng.integers(0, 255, (6, 12, 20, 3), dtype=np.uint8)
    same = np.concatenate([photos, photos])  # image i and i + 6 are "versions" of one photo
    groups = [np.array([i, i + 6]) for i in range(6)]
    assert colors.data_shape_ssim(same, groups) == pytest.approx(1.0)
    moved = np.concatenate([photos, np.roll(photos, 5, axis=2)])
    assert colors.data_shape_ssim(moved, groups) < 0.5
