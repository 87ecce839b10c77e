import json
import os
import time

import numpy as np
import pytest
from PIL import Image

from progan.data import (
    BatchSpec,
    build_cache,
    fit_to,
    global_batch,
    halve,
    open_source,
    pad_to_aspect,
    resize_area,
    step_dataset,
)
from progan.errors import ProganError
from progan.sources import FolderSource, source_labels
from tests.conftest import write_grey_folder


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


def test_fit_to_shrinks_a_strip_before_padding_and_leaves_photos_as_they_were():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    for target in ((48, 80), (12, 20)):  # a photo near the aspect: padded at full size, as ever
        expected = resize_area(pad_to_aspect(photo, target), target)
        np.testing.assert_array_equal(fit_to(photo, target), expected)
    strip = np.full((10, 100_000, 3), 200, np.uint8)  # padded first: 60000x100000, 18 GB
    fitted = fit_to(strip, (48, 80))
    assert fitted.shape == (48, 80, 3)
    band = fitted[:, 40, 0] > 0  # a thin band across the middle, black padding above and below
    assert band[20:28].any() and not band[:20].any() and not band[28:].any()


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


# Class labels ------------------------------------------------------------------------------------


def _write_classes(root, counts: dict[str, int], size=(10, 6)):
    """One subfolder per class; every image of class k is filled with the value 40·(k+1)."""
    for k, (name, count) in enumerate(sorted(counts.items())):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = np.full((size[1], size[0], 3), 40 * (k + 1), np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:02d}.png")
    return root


def test_labels_come_from_class_subfolders(tmp_path):
    root = _write_classes(tmp_path / "data", {"white": 3, "red": 2})
    labels = source_labels(FolderSource(root))
    assert labels.classes == ("red", "white")
    assert labels.indices.tolist() == [0, 0, 1, 1, 1]


def test_labels_csv_wins_over_folders_and_is_checked(tmp_path):
    root = _write_classes(tmp_path / "data", {"a": 2, "b": 2})
    csv = root / "labels.csv"
    csv.write_text("file,color\na/00.png,blue\na/01.png,red\nb/00.png,red\nb/01.png,blue\n")
    labels = source_labels(FolderSource(root))
    assert labels.classes == ("blue", "red") and labels.indices.tolist() == [0, 1, 1, 0]
    csv.write_text(
        "file,color\na/00.png,blue\na/01.png,red\nb/00.png,red\nb/01.png,blue\nc.png,red\n"
    )
    with pytest.raises(ProganError, match="names 1 files that are not images.*c.png"):
        source_labels(FolderSource(root))
    csv.write_text("file,color\na/00.png,blue\na/01.png,red\nb/00.png,red\n")
    with pytest.raises(ProganError, match="1 images .* have no label .*b/01.png"):
        source_labels(FolderSource(root))
    csv.write_text("name,kind\na/00.png,blue\n")
    with pytest.raises(ProganError, match="needs a header with 'file'"):
        source_labels(FolderSource(root))


def test_a_folder_without_labels_or_with_one_class_is_a_clear_error(tmp_path, image_folder):
    with pytest.raises(ProganError, match="no labels.csv and 32 images lie outside class"):
        source_labels(FolderSource(image_folder))
    root = _write_classes(tmp_path / "one", {"red": 2})
    with pytest.raises(ProganError, match="one class \\(red\\)"):
        source_labels(FolderSource(root))
    from progan.sources import ArraySource

    array = ArraySource("cifar10:cat", np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ProganError, match="cifar10:cat has no class labels"):
        source_labels(array)


def test_cache_records_which_source_images_it_kept(tmp_path):
    root = _write_classes(tmp_path / "data", {"a": 2, "b": 2})
    (root / "a" / "00.png").write_bytes(b"not a png")  # position 0 is unreadable
    cache = build_cache(FolderSource(root), [(3, 5), (6, 10)], tmp_path / "cache")
    assert cache.kept.tolist() == [1, 2, 3]
    labels = source_labels(FolderSource(root)).indices[cache.kept]
    assert labels.tolist() == [0, 1, 1]
    # image i of the cache is the one its label says: class k was filled with 40·(k+1)
    assert cache.arrays[(6, 10)][:, 3, 5, 0].tolist() == [40, 80, 80]
    reopened = build_cache(FolderSource(root), [(3, 5)], tmp_path / "cache")
    assert reopened.kept.tolist() == [1, 2, 3]
    # a copy that cannot say what it kept (written before kept.npy) or whose meta.json is
    # damaged is built again in its place, not read with the wrong images under the labels
    for damage in ("kept", "meta"):
        if damage == "kept":
            (cache.folder / "kept.npy").unlink()
        else:
            (cache.folder / "meta.json").write_text('{"count": ')
        rebuilt = build_cache(FolderSource(root), [(3, 5), (6, 10)], tmp_path / "cache")
        assert rebuilt.folder == cache.folder and rebuilt.kept.tolist() == [1, 2, 3]


def test_an_interrupted_cache_build_leaves_nothing_behind(tmp_path):
    root = _write_classes(tmp_path / "data", {"a": 3})

    class Interrupted(FolderSource):
        def images(self):
            yield from list(super().images())[:2]
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_cache(Interrupted(root), [(3, 5)], tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def _labeled_spec(counts=(2, 6, 12), batch_size=6, n_critic=1):
    """Image i is filled with the value i, so a drawn image says which one it is."""
    labels = np.concatenate([np.full(n, k, np.int32) for k, n in enumerate(counts)])
    images = np.broadcast_to(
        np.arange(len(labels), dtype=np.uint8)[:, None, None, None], (len(labels), 2, 2, 3)
    )
    return BatchSpec(
        images=images,
        batch_size=batch_size,
        n_critic=n_critic,
        latent_dim=4,
        seed=3,
        flip=False,
        labels=labels,
        num_classes=len(counts),
    )


def test_conditional_batches_are_class_balanced_and_labels_match_the_images():
    spec = _labeled_spec()
    for position in range(0, 60, 6):
        batch = global_batch(spec, position)
        assert np.bincount(batch["labels"][:, 0], minlength=3).tolist() == [2, 2, 2]
        # the image drawn is of the class it is labelled with
        assert (spec.labels[batch["reals"][:, 0, 0, 0, 0]] == batch["labels"][:, 0]).all()
        np.testing.assert_array_equal(batch["labels_gen"], batch["labels"][:, 0])
    again = global_batch(spec, 18)
    np.testing.assert_array_equal(again["labels"], global_batch(spec, 18)["labels"])


def test_each_class_is_a_full_shuffle_of_its_own_images():
    """The rare class (2 images) is shown as often as the common one, each image once per epoch."""
    spec = _labeled_spec()
    draws = [global_batch(spec, p) for p in range(0, 72, 6)]
    shown = np.concatenate([b["reals"][:, 0, 0, 0, 0] for b in draws])
    labels = np.concatenate([b["labels"][:, 0] for b in draws])
    assert np.bincount(labels).tolist() == [24, 24, 24]
    for k, members in enumerate([range(0, 2), range(2, 8), range(8, 20)]):
        of_class = shown[labels == k]
        for epoch in range(0, 24, len(members)):  # every image once per epoch of its class
            assert sorted(of_class[epoch : epoch + len(members)]) == list(members)
    largest = shown[labels == 2]  # a new shuffle every epoch (12 images: no chance repeat)
    assert largest[:12].tolist() != largest[12:24].tolist()
    assert draws[0]["reals"].dtype == np.uint8 and draws[0]["labels"].dtype == np.int32


def test_conditional_dataset_slices_labels_like_the_images():
    spec = _labeled_spec(batch_size=6, n_critic=2)
    whole = list(step_dataset(spec, 12, 1))[0]
    assert whole["labels"].shape == (6, 2) and whole["labels_gen"].shape == (6,)
    split = list(step_dataset(spec, 12, 1, _Context(2, 1, 0)))
    np.testing.assert_array_equal(
        np.concatenate([e["labels"].numpy() for e in split]), whole["labels"].numpy()
    )
    np.testing.assert_array_equal(whole["labels"].numpy(), global_batch(spec, 12)["labels"])


def test_recolor_groups_gather_the_versions_of_one_photo(tmp_path):
    from progan.sources import recolor_groups

    root = _write_classes(tmp_path / "data", {"red": 2, "blue": 2})
    assert recolor_groups(FolderSource(root)) == []  # no labels.csv
    (root / "labels.csv").write_text(
        "file,color,source\nblue/00.png,blue,a.jpg\nblue/01.png,blue,b.jpg\n"
        "red/00.png,red,a.jpg\nred/01.png,red,c.jpg\n"
    )
    groups = recolor_groups(FolderSource(root))
    assert [g.tolist() for g in groups] == [[0, 2]]  # b and c have one version each


def test_a_folder_of_l_and_equal_channel_rgb_files_is_grey(tmp_path):
    folder = write_grey_folder(tmp_path / "grey", 6)
    cache = build_cache(FolderSource(folder), [(6, 10), (12, 20)], tmp_path / "cache")
    assert cache.grey == 6 and cache.all_grey
    one = cache.images((12, 20), 1)
    assert one.shape == (6, 12, 20, 1)
    np.testing.assert_array_equal(one[..., 0], cache.arrays[(12, 20)][..., 1])
    assert cache.images((12, 20), 3) is cache.arrays[(12, 20)]


def test_one_colored_image_makes_a_folder_colored_and_grey_is_then_its_luma(tmp_path):
    folder = write_grey_folder(tmp_path / "mixed", 5, colored=1)
    cache = build_cache(FolderSource(folder), [(12, 20)], tmp_path / "cache")
    assert cache.grey == 5 and not cache.all_grey
    red = sorted(p.name for p in FolderSource(folder).files).index("red00.png")
    luma = cache.images((12, 20), 1)[red, 3, 3, 0]
    assert luma == round(0.299 * 200 + 0.587 * 40 + 0.114 * 40)  # ITU-R 601, as Pillow's L
    pillow = Image.fromarray(np.array([[[200, 40, 40]]], np.uint8)).convert("L")
    assert int(luma) == pillow.getpixel((0, 0))


def test_a_cache_written_before_the_grey_count_counts_its_top_stage(tmp_path):
    folder = write_grey_folder(tmp_path / "mixed", 3, colored=2)
    first = build_cache(FolderSource(folder), [(12, 20)], tmp_path / "cache")
    meta = json.loads((first.folder / "meta.json").read_text())
    del meta["grey"]
    (first.folder / "meta.json").write_text(json.dumps(meta))
    assert build_cache(FolderSource(folder), [(12, 20)], tmp_path / "cache").grey == 3
