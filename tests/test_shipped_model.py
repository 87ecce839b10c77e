"""The model in checkpoints/ is what a fresh clone's studio and CLI use: it must be there, load
offline with no arguments, render every resolution it lists, and be trained (not random)."""

import numpy as np
import pytest
from PIL import Image

import progan
from config import DEFAULT_MODEL_DIR, LaundryConfig
from progan.data import pad_to_aspect, resize_area
from progan.datasets.laundry import generate
from progan.export import write_random_export
from progan.metrics import swd
from progan.resolution import parse_res


@pytest.fixture(scope="module")
def shipped():
    return progan.load_generator()


def test_shipped_model_loads_with_no_arguments_and_renders_every_resolution(shipped):
    assert shipped.path == (DEFAULT_MODEL_DIR / "export").resolve()
    assert shipped.resolutions[0] == "5x3" and shipped.metadata["images_shown"] > 0
    z = progan.seed_latents([0, 1], shipped.latent_dim)
    for res in shipped.resolutions:
        height, width = parse_res(res)
        assert shipped.render(z, res).shape == (2, height, width, 3)


def test_shipped_model_is_trained_not_random(shipped, tmp_path):
    """Its samples are far closer (SWD) to laundry-belt images than noise is, and than the
    same network with random weights is."""
    res = shipped.resolutions[-1]
    shape = parse_res(res)
    folder = generate(tmp_path / "laundry", LaundryConfig(n=192, seed=7, size=(90, 160)), workers=1)
    reals = np.stack(
        [
            resize_area(pad_to_aspect(np.asarray(Image.open(p).convert("RGB")), shape), shape)
            for p in sorted((folder / "images").iterdir())
        ]
    )
    z = progan.seed_latents(range(len(reals)), shipped.latent_dim)
    untrained = progan.load_generator(
        write_random_export(tmp_path / "random", shipped.net, shipped.stages)
    )
    noise = np.random.default_rng(0).integers(0, 256, reals.shape, dtype=np.uint8)
    trained = swd(shipped.render(z, res), reals)[-1]
    assert trained < 0.6 * swd(untrained.render(z, res), reals)[-1]
    assert trained < 0.6 * swd(noise, reals)[-1]
