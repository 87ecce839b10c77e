import os
import time

import numpy as np
import pytest
from PIL import Image

from progan.data import (
    BatchSpec,
    build_cache,
    global_batch,
    halve,
    open_source,
    pad_to_aspect,
    step_dataset,
)
from progan.errors import ProganError
from progan.sources import FolderSource


def test_laundry_photo_is_padded_with_24_black_rows_above_and_below():
    photo = np.full((720, 1280, 3), 200, np.uint8)
    padded = pad_to_aspect(photo, (768, 1280))
    assert padded.shape == (768, 1280, 3)
    assert not padded[:24].any() and not padded[-24:].any()
    assert (padded[24:-24] == 200).all()


def test_tall_image_gets_black_columns():
    padded = pad_to_aspect(np.full((100, 50, 3), 9, np.uint8), (4, 4))
    assert padded.shape == (100, 100, 3)
    assert not padded[:, :25].any() and (padded[:, 25:75] == 9).all()


def test_halve_is_exact_area_average():
    x = np.array([[[[0], [2]], [[4], [6]]]], np.uint8).repeat(3, axis=-1)
    assert halve(x)[0, 0, 0].tolist() == [3, 3, 3]


def test_cache_skips_corrupt_reads_grey_and_builds_every_stage(image_folder, tmp_path):
    source = FolderSource(image_folder)
    assert len(source) == 32
    stages = [(3, 5), (6, 10), (12, 20)]
    cache = build_cache(source, stages, tmp_path)
    assert cache.skipped == 1 and len(cache) == 31
    for h, w in stages:
        assert cache.arrays[(h, w)].shape == (31, h, w, 3)
    np.testing.assert_array_equal(cache.arrays[(6, 10)], halve(np.asarray(cache.arrays[(12, 20)])))
    # The greyscale image arrives as three equal channels.
    grey_index = sorted(p.name for p in source.files if p.name != "corrupt.png").index("grey.png")
    grey = cache.arrays[(12, 20)][grey_index].astype(int)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()


def test_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8)).save(folder / f"{i}.png")
    stages = [(4, 4), (8, 8)]
    first = build_cache(FolderSource(folder), stages, tmp_path / "cache")
    stamp = (first.folder / "8x8.npy").stat().st_mtime_ns
    assert build_cache(FolderSource(folder), stages, tmp_path / "cache").folder == first.folder
    assert (first.folder / "8x8.npy").stat().st_mtime_ns == stamp
    time.sleep(0.01)
    Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(folder / "0.png")
    os.utime(folder / "0.png")
    second = build_cache(FolderSource(folder), stages, tmp_path / "cache")
    assert second.folder != first.folder and second.arrays[(8, 8)][0].min() == 255


def test_a_cache_with_a_higher_top_serves_lower_stages(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), i * 60, np.uint8)).save(folder / f"{i}.png")
    cache_root = tmp_path / "cache"
    full = build_cache(FolderSource(folder), [(4, 4), (8, 8), (16, 16)], cache_root)
    lower = build_cache(FolderSource(folder), [(4, 4), (8, 8)], cache_root)
    assert lower.folder == full.folder and sorted(lower.arrays) == [(4, 4), (8, 8)]
    assert [p.name for p in cache_root.iterdir()] == [full.folder.name]
    other_base = build_cache(FolderSource(folder), [(8, 8), (16, 16)], cache_root)
    assert other_base.folder != full.folder


def test_rgba_and_palette_images_become_rgb(tmp_path):
    Image.new("RGBA", (6, 6), (255, 0, 0, 0)).save(tmp_path / "a.png")
    Image.new("P", (6, 6), 3).save(tmp_path / "b.png")
    images = list(FolderSource(tmp_path).images())
    assert [i.shape for i in images] == [(6, 6, 3), (6, 6, 3)]
    assert images[0].max() == 0  # fully transparent -> black, like the padding


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ProganError, match="no images"):
        FolderSource(tmp_path)
    with pytest.raises(ProganError, match="does not exist"):
        FolderSource(tmp_path / "nope")
    with pytest.raises(ProganError):
        open_source("no-such-data-set", tmp_path)


def _spec(n_critic=1, flip=True):
    images = np.arange(10 * 2 * 2 * 3, dtype=np.uint8).reshape(10, 2, 2, 3)
    return BatchSpec(
        images=images, batch_size=4, n_critic=n_critic, latent_dim=5, seed=7, flip=flip
    )


def test_batches_are_a_pure_function_of_seed_and_position():
    spec = _spec()
    a, b = global_batch(spec, 12), global_batch(spec, 12)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["z_gen"], global_batch(spec, 16)["z_gen"])


def test_every_image_once_per_epoch():
    spec = _spec(flip=False)
    seen = np.concatenate([global_batch(spec, p)["reals"][:, 0] for p in range(0, 20, 4)])
    first, second = seen[:10, 0, 0, 0], seen[10:, 0, 0, 0]
    expected = sorted(spec.images[:, 0, 0, 0])
    assert sorted(first) == expected and sorted(second) == expected
    assert first.tolist() != second.tolist()  # a new shuffle each epoch


def test_n_critic_batches_and_shapes():
    batch = global_batch(_spec(n_critic=3), 0)
    assert batch["reals"].shape == (4, 3, 2, 2, 3)
    assert batch["z_critic"].shape == (4, 3, 5) and batch["gp_mix"].shape == (4, 3)
    assert batch["z_gen"].shape == (4, 5) and batch["z_gen"].dtype == np.float32


class _Context:
    def __init__(self, replicas, pipelines, pipeline):
        self.num_replicas_in_sync = replicas
        self.num_input_pipelines = pipelines
        self.input_pipeline_id = pipeline


def test_replica_slices_add_up_to_the_global_batch():
    spec = _spec()
    whole = [e["reals"].numpy() for e in step_dataset(spec, 8, 2)]
    split = [e["reals"].numpy() for e in step_dataset(spec, 8, 2, _Context(2, 1, 0))]
    np.testing.assert_array_equal(np.concatenate(split[:2]), whole[0])
    np.testing.assert_array_equal(np.concatenate(split[2:]), whole[1])
    worker1 = [e["z_gen"].numpy() for e in step_dataset(spec, 8, 1, _Context(2, 2, 1))]
    np.testing.assert_array_equal(worker1[0], global_batch(spec, 8)["z_gen"][2:])
