"""FID, KID and Inception Score with Keras' InceptionV3, for users who have its ImageNet weights.

The three need a network trained on ImageNet: its 2048 pool features (FID, KID) and its class
probabilities (IS). Keras downloads the weights when online; ``weights=FILE`` loads a local
``.h5`` copy; without either there is nothing meaningful to compute, and a one-line error says so
and points to SWD, which works offline. The statistics are NumPy functions of features and
probabilities, so they are tested on numbers whose answer is known; the network itself is
tested with random weights.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy import linalg

from progan.errors import ProganError

SIZE = 299
BATCH = 32
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
IS_SPLITS = 10


def inception(weights: str | Path | None = "imagenet") -> Any:
    """InceptionV3 mapping 299×299 images to (pool features, class probabilities).

    ``weights``: ``"imagenet"`` (downloaded once into ~/.keras), a local weights file, or None
    for random weights (tests only: the numbers then mean nothing).
    """
    import keras

    if weights not in (None, "imagenet"):
        if not Path(weights).is_file():
            raise ProganError(f"--inception-weights {weights}: no such file")
        weights = str(weights)
    try:
        net = keras.applications.InceptionV3(include_top=True, weights=weights)
    # Keras reports a failed download as a plain Exception, a bad file as OSError/ValueError.
    except Exception as err:
        raise ProganError(
            f"FID, KID and IS need InceptionV3's ImageNet weights, which could not be loaded "
            f"({str(err).splitlines()[0][:120]}); pass --inception-weights FILE, or use SWD, "
            "which works offline"
        ) from None
    pool = net.get_layer("avg_pool").output
    return keras.Model(net.input, [pool, net.output])


def features(model: Any, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool features (N×2048) and class probabilities (N×1000) of uint8 images of any size."""
    import keras

    pools, probs = [], []
    for start in range(0, len(images), BATCH):
        batch = np.asarray(images[start : start + BATCH], np.float32) / 127.5 - 1.0
        resized = keras.ops.image.resize(batch, (SIZE, SIZE), interpolation="bilinear")
        pool, prob = model(resized, training=False)
        pools.append(np.asarray(pool, np.float64))
        probs.append(np.asarray(prob, np.float64))
    return np.concatenate(pools), np.concatenate(probs)


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # a singular product is expected with few samples
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():  # nudge both, as common practice does
            eye = np.eye(len(cov_a)) * 1e-6
            root = linalg.sqrtm((cov_a + eye) @ (cov_b + eye))
    distance = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(root))
    return float(max(distance, 0.0))


def kid(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Kernel Inception Distance: the unbiased MMD² with the kernel (x·y/d + 1)³, averaged over
    random subsets (of 1000, or all when fewer)."""
    rng = np.random.default_rng(seed)
    size = min(KID_SUBSET_SIZE, len(a), len(b))
    dim = a.shape[1]
    values = []
    for _ in range(KID_SUBSETS):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = ((p @ q.T / dim + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))
        off = size * (size - 1)
        values.append(
            (kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off - 2 * kxy.mean()
        )
    return float(np.mean(values))


def inception_score(probabilities: np.ndarray, splits: int = IS_SPLITS) -> float:
    """exp E[KL(p(y|x) ‖ p(y))], averaged over ``splits`` parts of the set."""
    scores = []
    for part in np.array_split(probabilities, min(splits, len(probabilities))):
        marginal = part.mean(0, keepdims=True)
        kl = np.sum(part * (np.log(part + 1e-12) - np.log(marginal + 1e-12)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores))


def inception_metrics(
    fakes: np.ndarray, reals: np.ndarray, weights: str | Path | None = "imagenet"
) -> dict[str, float]:
    """FID and KID of the fakes against the reals, and the Inception Score of each."""
    model = inception(weights)
    fake_pool, fake_prob = features(model, fakes)
    real_pool, real_prob = features(model, reals)
    return {
        "fid": fid(fake_pool, real_pool),
        "kid": kid(fake_pool, real_pool),
        "is": inception_score(fake_prob),
        "is_real": inception_score(real_prob),
    }
