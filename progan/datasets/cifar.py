"""CIFAR-10, one class at a time, at its native 32×32, through ``keras.datasets.cifar10``.

Keras downloads the archive on first use and caches it under ``$KERAS_HOME/datasets`` (by
default ``~/.keras/datasets``). Both the training and the test split are used: a GAN has no
use for a held-out split, and for one class that is 6,000 images instead of 5,000.
"""

from __future__ import annotations

import os

import numpy as np

from progan.errors import ProganError
from progan.sources import ArraySource

CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def class_index(name: str) -> int:
    key = name.strip().lower()
    if key not in CLASSES:
        raise ProganError(
            f"CIFAR-10 has no class {name!r}; choose one of {', '.join(CLASSES)}, "
            "e.g. --data cifar10:automobile"
        )
    return CLASSES.index(key)


def cifar10_source(name: str) -> ArraySource:
    """The images of CIFAR-10 class ``name`` as an N×32×32×3 source."""
    label = class_index(name)
    try:
        from keras.datasets import cifar10

        (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    except Exception as err:  # keras reports a failed download as a bare Exception
        cache = os.path.join(os.environ.get("KERAS_HOME", "~/.keras"), "datasets")
        raise ProganError(
            f"CIFAR-10 could not be loaded ({err}); keras downloads it on first use, so run "
            f"once online, or place cifar-10-python.tar.gz from "
            f"https://www.cs.toronto.edu/~kriz/cifar.html in {cache} as "
            "cifar-10-batches-py-target_archive"
        ) from err
    images = np.concatenate([x_train[y_train.ravel() == label], x_test[y_test.ravel() == label]])
    if images.shape[-1] != 3:
        images = images.transpose(0, 2, 3, 1)  # keras set to channels_first
    return ArraySource(f"cifar10-{CLASSES[label]}", np.ascontiguousarray(images, dtype=np.uint8))
