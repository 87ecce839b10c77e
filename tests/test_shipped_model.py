"""The models in checkpoints/ are what a fresh clone's studio and CLI use: the default one must be
there and load offline with no arguments, and every one must render each resolution it lists
and be trained (not random)."""

import numpy as np
import pytest
from PIL import Image

import progan
from app.model import shipped_models
from config import DEFAULT_MODEL_DIR, LaundryConfig
from progan.data import pad_to_aspect, resize_area
from progan.datasets.laundry import generate
from progan.export import write_random_export
from progan.latent import default_label
from progan.metrics import swd
from progan.resolution import parse_res

SHIPPED = shipped_models()


@pytest.fixture(scope="module")
def belt_photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("belt")
    return generate(folder / "laundry", LaundryConfig(n=192, seed=7, size=(90, 160)), workers=1)


def test_the_default_model_loads_with_no_arguments():
    shipped = progan.load_generator()
    assert shipped.path == (DEFAULT_MODEL_DIR / "export").resolve()
    assert SHIPPED[0] == DEFAULT_MODEL_DIR


@pytest.mark.parametrize("folder", SHIPPED, ids=[folder.name for folder in SHIPPED])
def test_every_shipped_model_renders_its_resolutions_and_is_trained(folder, belt_photos, tmp_path):
    """Its samples are far closer (SWD) to laundry-belt images than noise is, and than the same
    network with random weights is."""
    shipped = progan.load_generator(folder)
    assert shipped.resolutions[0] == "5x3" and shipped.metadata["images_shown"] > 0
    label = default_label(shipped)
    z = progan.seed_latents([0, 1], shipped.latent_dim)
    for res in shipped.resolutions:
        height, width = parse_res(res)
        assert shipped.render(z, res, labels=label).shape == (2, height, width, 3)
    res = shipped.resolutions[-1]
    shape = parse_res(res)
    reals = np.stack(
        [
            resize_area(pad_to_aspect(np.asarray(Image.open(p).convert("RGB")), shape), shape)
            for p in sorted((belt_photos / "images").iterdir())
        ]
    )
    z = progan.seed_latents(range(len(reals)), shipped.latent_dim)
    untrained = progan.load_generator(
        write_random_export(tmp_path / "random", shipped.net, shipped.stages)
    )
    noise = np.random.default_rng(0).integers(0, 256, reals.shape, dtype=np.uint8)
    trained = swd(shipped.render(z, res, labels=label), reals)[-1]
    assert trained < 0.6 * swd(untrained.render(z, res, labels=label), reals)[-1]
    assert trained < 0.6 * swd(noise, reals)[-1]


CONDITIONAL = [folder for folder in SHIPPED if progan.load_generator(folder).classes]
COLOR_SEEDS = range(48)


@pytest.mark.parametrize("folder", CONDITIONAL, ids=[folder.name for folder in CONDITIONAL])
def test_every_conditional_shipped_model_draws_each_color_it_is_asked_for(folder):
    """Judged by the pixel classifier at 20x12, the smallest size where it decides as it does at
    the top one: each color class drawn in at least 90 % of 48 seeds by the default model (80 %
    by the earlier snapshots kept beside it: the 330-kimg one draws white in 43 of 48), and
    "original" (mostly white hospital laundry in the data, a few colored items) white in most.
    A class order mixed up in training, export or loading draws the wrong color here."""
    from progan.colors import class_of_images, render_in_color

    shipped = progan.load_generator(folder)
    z = progan.seed_latents(COLOR_SEEDS, shipped.latent_dim)
    for color in shipped.classes:
        seen = class_of_images(render_in_color(shipped, z, "20x12", color))
        if color == "original":
            wanted, least = "white", 0.5
        else:
            wanted, least = color, 0.9 if folder == DEFAULT_MODEL_DIR else 0.8
        share = seen.count(wanted) / len(seen)
        assert share >= least, f"{folder.name}: {color} drawn as {wanted} in {share:.0%}: {seen}"
