import threading

import numpy as np
import pytest

import progan
from config import NetworkConfig
from progan import export
from progan.errors import ProganError

NET = NetworkConfig(base=(3, 5), latent_dim=16, channels=(16, 12, 8))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return export.write_random_export(tmp_path_factory.mktemp("model") / "export", NET, 3)


def test_load_generator_contract(model_dir):
    g = progan.load_generator(model_dir)
    assert g.resolutions == ["5x3", "10x6", "20x12"]
    assert g.latent_dim == 16 and g.metadata["network"]["base"] == "5x3"
    assert g.path == model_dir.resolve() and g.prototypes is None
    z = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    images = g.render(z, "20x12")
    assert images.shape == (3, 12, 20, 3) and images.dtype == np.uint8
    assert images.std() > 1  # not a constant image
    np.testing.assert_array_equal(images, g.render(z, "20x12"))
    assert progan.load_generator(model_dir) is g  # loaded once per process


def test_lower_resolutions_are_the_area_average_of_the_top(model_dir):
    g = progan.load_generator(model_dir)
    z = np.random.default_rng(1).standard_normal((2, 16)).astype(np.float32)
    top = g.render(z, "20x12").astype(float)
    small = g.render(z, "5x3").astype(float)
    expected = top.reshape(2, 3, 4, 5, 4, 3).mean(axis=(2, 4))
    assert np.abs(small - expected).max() <= 1.0


def test_bad_resolution_and_latents(model_dir):
    g = progan.load_generator(model_dir)
    with pytest.raises(ProganError, match="5x3, 10x6, 20x12"):
        g.render(np.zeros((1, 16), np.float32), "40x24")
    with pytest.raises(ProganError, match="N×16"):
        g.render(np.zeros((1, 15), np.float32), "5x3")


def test_concurrent_renders_match_serial(model_dir):
    g = progan.load_generator(model_dir)
    latents = [
        np.random.default_rng(i).standard_normal((4, 16)).astype(np.float32) for i in range(6)
    ]
    serial = [g.render(z, "10x6") for z in latents]
    results: dict[int, np.ndarray] = {}
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, g.render(latents[i], "10x6")))
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(6):
        np.testing.assert_array_equal(results[i], serial[i])


def test_rewritten_export_is_replaced_atomically_and_reloaded(tmp_path):
    folder = export.write_random_export(tmp_path / "m", NET, 2, seed=1)
    first = progan.load_generator(folder)
    export.write_random_export(tmp_path / "m", NET, 3, seed=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    second = progan.load_generator(folder)
    assert second is not first and second.resolutions[-1] == "20x12"


def test_float16_export_renders_like_float32(tmp_path):
    from progan.generator import Generator

    network = Generator(NET, 3)
    full = progan.load_generator(export.write_export(tmp_path / "a", network, 3))
    half = progan.load_generator(export.write_export(tmp_path / "b", network, 3, dtype="float16"))
    assert (tmp_path / "b" / export.WEIGHTS).stat().st_size < (
        tmp_path / "a" / export.WEIGHTS
    ).stat().st_size
    z = np.random.default_rng(2).standard_normal((4, 16)).astype(np.float32)
    diff = np.abs(full.render(z, "20x12").astype(int) - half.render(z, "20x12").astype(int))
    assert diff.max() <= 3


def test_model_path_may_start_with_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    export.write_random_export(tmp_path / "runs" / "m" / "export", NET, 2, seed=1)
    assert export.resolve_export_dir("~/runs/m") == tmp_path / "runs" / "m" / "export"


def test_missing_or_broken_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "DEFAULT_MODEL_DIR", tmp_path / "none")
    with pytest.raises(ProganError, match="no shipped model"):
        progan.load_generator()
    with pytest.raises(ProganError, match="is not a model"):
        progan.load_generator(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ProganError, match="cannot read"):
        progan.load_generator(tmp_path)
