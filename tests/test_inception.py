"""FID, KID and IS: the statistics on numbers with known answers, the network with random
weights (the ImageNet weights cannot be downloaded here), the weights file and the offline error."""

from __future__ import annotations

import numpy as np
import pytest

from progan import inception
from progan.errors import ProganError


def test_fid_is_zero_for_one_set_and_the_squared_mean_shift_for_a_moved_copy():
    a = np.random.default_rng(0).standard_normal((400, 6))
    assert inception.fid(a, a) == pytest.approx(0.0, abs=1e-8)
    assert inception.fid(a, a + 1.0) == pytest.approx(6.0, rel=1e-6)  # ‖Δμ‖² = 6, same Σ


def test_kid_is_unbiased_for_samples_of_one_distribution():
    rng = np.random.default_rng(1)
    draws = [(rng.standard_normal((300, 4)), rng.standard_normal((300, 4))) for _ in range(10)]
    same = [inception.kid(a, b, seed) for seed, (a, b) in enumerate(draws)]
    moved = inception.kid(draws[0][0], draws[0][1] + 1.0)
    assert abs(np.mean(same)) < 0.05 * moved
    assert min(same) < 0  # unbiased: it goes below zero, a biased estimate could not


def test_inception_score_counts_confident_distinct_classes():
    confident = np.eye(10)[np.arange(50) % 5]  # five classes, each predicted with certainty
    assert inception.inception_score(confident, splits=1) == pytest.approx(5.0, rel=1e-6)
    assert inception.inception_score(np.full((20, 10), 0.1), splits=1) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def random_inception():
    return inception.inception(None)


def test_the_network_maps_small_images_to_pool_features_and_probabilities(random_inception):
    images = np.random.default_rng(2).integers(0, 255, (6, 24, 40, 3), dtype=np.uint8)
    pool, probs = inception.features(random_inception, images)
    assert pool.shape == (6, 2048) and probs.shape == (6, 1000)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-4)
    brighter = np.clip(images.astype(int) + 60, 0, 255).astype(np.uint8)
    other, _ = inception.features(random_inception, brighter)
    # random weights give tiny features, so the comparison is relative
    same, moved = inception.fid(pool, pool), inception.fid(pool, other)
    assert moved > 0 and same <= 1e-3 * moved


def test_a_weights_file_loads_and_a_missing_one_or_no_network_is_one_clear_error(
    random_inception, tmp_path, monkeypatch
):
    import keras

    path = tmp_path / "inception.weights.h5"
    keras.applications.InceptionV3(weights=None).save_weights(path)
    loaded = inception.inception(path)
    images = np.random.default_rng(3).integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_allclose(inception.features(loaded, images)[1].sum(1), 1.0, rtol=1e-4)
    with pytest.raises(ProganError, match="no such file"):
        inception.inception(tmp_path / "missing.h5")

    def offline(**_):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: no route")

    monkeypatch.setattr(keras.applications, "InceptionV3", offline)
    with pytest.raises(ProganError, match="pass --inception-weights FILE, or use SWD"):
        inception.inception("imagenet")
