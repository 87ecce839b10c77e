import dataclasses
import json
import os
import shutil
import signal

import numpy as np
import pytest
from training_helpers import make_small_laundry

from config import KIND_CLASSIFIER, NetworkConfig
from progan import __main__ as cli
from progan import kinds
from progan.errors import ProganError
from progan.export import write_random_export
from progan.sources import FolderSource


def test_kinds_of_the_laundry_sets_come_from_the_photos_manifest(tmp_path):
    root = make_small_laundry(tmp_path / "data")
    manifest = json.loads((root / "laundry" / "manifest.json").read_text())
    truth = {
        entry["name"]: sorted({kinds.KINDS.index(item["kind"]) for item in entry["items"]})
        for entry in manifest["images"]
    }
    photos = FolderSource(root / "laundry" / "images")
    recolored = FolderSource(root / "laundry-recolored" / "images")
    for source in (photos, recolored, FolderSource(root / "laundry-recolored")):
        rows = kinds.kinds_of_source(source)
        assert rows.shape == (len(source.files), len(kinds.KINDS))
        for row, path in zip(rows, source.files, strict=True):
            assert np.flatnonzero(row).tolist() == truth[path.stem]
    # the five colors of a photo are one photo, held out together
    ids = kinds.photo_ids(recolored)
    assert len(set(ids)) == 10 and np.bincount(ids).tolist() == [5] * 10
    plain = tmp_path / "plain"  # photos without a laundry manifest have no kinds
    shutil.copytree(root / "laundry" / "images", plain)
    assert kinds.kinds_of_source(FolderSource(plain)) is None
    # a recolored set made from other photos than the laundry set beside it is refused
    (root / "laundry" / "manifest.json").write_text(json.dumps(manifest | {"settings": {}}))
    with pytest.raises(ProganError, match="recolored from other laundry photos"):
        kinds.kinds_of_source(recolored)


def bars(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey 24x40 images with a horizontal bar ("towel"), a vertical one ("shirt") or both."""
    images = rng.integers(90, 110, (count, 24, 40, 3)).astype(np.uint8)
    shown = np.zeros((count, len(kinds.KINDS)), np.float32)
    for image, row in zip(images, shown, strict=True):
        which = rng.integers(1, 4)
        if which & 1:
            y, x = rng.integers(2, 18), rng.integers(0, 16)
            image[y : y + 4, x : x + 22] = 230
            row[kinds.KINDS.index("towel")] = 1
        if which & 2:
            y, x = rng.integers(0, 6), rng.integers(2, 34)
            image[y : y + 18, x : x + 4] = 230
            row[kinds.KINDS.index("shirt")] = 1
    return images, shown


def test_the_classifier_learns_kinds_and_its_distance_tells_blobs_from_shapes():
    rng = np.random.default_rng(0)
    images, shown = bars(rng, 400)
    cfg = dataclasses.replace(
        KIND_CLASSIFIER, channels=(16, 16, 32), epochs=15, batch_size=32, held_out_every=5
    )
    classifier = kinds.train_classifier(images, shown, np.arange(400), cfg)
    assert classifier.held_out_photo_accuracy >= 0.9  # guessing gets a quarter of them
    reals, _ = bars(rng, 600)
    # blobs: the same scenes box-blurred until no bar is a bar, the same mean brightness
    blobs = reals[:200].astype(np.float32)
    for _ in range(6):
        shifted = np.roll(blobs, 2, 1), np.roll(blobs, 2, 2), np.roll(blobs, 1, (1, 2))
        blobs = (blobs + sum(shifted)) / 4
    fakes = {"reals": reals[:200], "blobs": np.round(blobs).astype(np.uint8)}
    figures = {name: kinds.kind_figures(classifier, f, reals[200:]) for name, f in fakes.items()}
    assert figures["reals"]["kind_fd"] < 3 * figures["reals"]["kind_fd_floor"]
    assert figures["blobs"]["kind_fd"] > 10 * figures["blobs"]["kind_fd_floor"]
    assert figures["blobs"]["kind_certainty"] < figures["reals"]["kind_certainty"]
    towel = figures["reals"]["kind_share_towel"]
    assert towel == pytest.approx(figures["reals"]["kind_share_data_towel"], abs=0.1)
    # a 48x80 image is halved to the classifier's 24x40 before it is seen
    doubled = reals[:200].repeat(2, axis=1).repeat(2, axis=2)
    assert np.allclose(classifier.predict(doubled)[1], classifier.predict(reals[:200])[1])
    assert kinds.classifier_res([(6, 10), (12, 20), (24, 40)], (24, 40), cfg) == (24, 40)
    assert kinds.classifier_res([(24, 40), (48, 80), (96, 160)], (96, 160), cfg) == (48, 80)


def test_evaluate_on_laundry_data_reports_the_kinds_and_keeps_the_classifier(tmp_path, capsys):
    root = make_small_laundry(tmp_path / "data")
    model = write_random_export(tmp_path / "m", NetworkConfig((3, 5), 16, (16, 16, 8, 8)), 4)
    data = root / "laundry-recolored" / "images"
    argv = ["evaluate", "--model", str(model), "--data", str(data), "--n", "8"]
    argv += ["--data-root", str(root)]
    runs = []
    for name in ("first", "second"):
        assert cli.main([*argv, "--json", str(tmp_path / f"{name}.json")]) == 0
        runs.append(json.loads((tmp_path / f"{name}.json").read_text()))
    printed = capsys.readouterr().out
    assert "kinds of item, by a classifier trained on the data's photos at 40x24" in printed
    assert runs[0]["kind_fd"] > runs[0]["kind_fd_floor"]  # random weights draw no laundry
    # trained once, then read back from beside the stage cache: the same numbers
    assert len(list((root / "cache").glob("*/kinds-40x24-*.npz"))) == 1
    assert runs[1] == runs[0]


def test_phase_ends_from_the_classifiers_stage_up_report_what_it_sees(tmp_path):
    from training_helpers import tensorboard_scalars, tiny_config

    from progan.phase_report import PHASE_END_KIND_FIGURES
    from progan.run_folder import METRICS_JSONL
    from progan.trainer import Trainer

    root = make_small_laundry(tmp_path / "data")
    data = root / "laundry-recolored" / "images"
    run = tmp_path / "run"
    Trainer(tiny_config(run, data, max_res=(12, 20))).train()
    records = [json.loads(line) for line in (run / METRICS_JSONL).read_text().splitlines()]
    assert [r["res"] for r in records] == ["5x3", "10x6", "10x6", "20x12", "20x12"]
    # 20x12 is the stage evaluate would judge the finished model's kinds at (below 80x48)
    for record in records[:3]:
        assert not any(key.startswith("kind") for key in record)
    for record in records[3:]:
        assert set(PHASE_END_KIND_FIGURES) <= set(record)
        assert record["kind_fd"] > record["kind_fd_floor"] >= 0  # a few steps draw no laundry
        assert 0.5 <= record["kind_certainty"] <= 1
    logged = tensorboard_scalars(run / "tb", "eval/kind_fd")
    assert logged == pytest.approx([r["kind_fd"] for r in records[3:]], rel=1e-6)
    # trained at the first of them, then read back: one classifier, where evaluate looks
    assert len(list((root / "cache").glob("*/kinds-20x12-*.npz"))) == 1


def test_ctrl_c_while_the_classifier_first_trains_stops_the_run_there_and_it_resumes(
    tmp_path, monkeypatch, caplog
):
    """The first phase end of a laundry run trains the kind classifier (ten minutes at 80x48):
    Ctrl-C ends it after the batch it is on, saves the phase end and stops the run."""
    from training_helpers import tiny_config

    from progan.run_folder import METRICS_JSONL
    from progan.trainer import Trainer

    root = make_small_laundry(tmp_path / "data")
    run = tmp_path / "run"
    cfg = tiny_config(run, root / "laundry-recolored" / "images", max_res=(12, 20))
    build = kinds.build_network

    def build_then_ctrl_c(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # as the classifier's training starts
        return build(*args, **kwargs)

    monkeypatch.setattr(kinds, "build_network", build_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt, match="stopped; saved"):
        Trainer(cfg).train()
    records = [json.loads(line) for line in (run / METRICS_JSONL).read_text().splitlines()]
    assert [r["res"] for r in records] == ["5x3", "10x6", "10x6", "20x12"]
    assert "swd" in records[-1] and not any(key.startswith("kind") for key in records[-1])
    assert "no kind figures at this phase end" in caplog.text
    assert "stopped after 0 of" in caplog.text  # within its first epoch
    assert not list((root / "cache").glob("*/kinds-*.npz"))  # a half-trained one is not kept
    monkeypatch.undo()
    Trainer(dataclasses.replace(cfg, resume=True)).train()
    records = [json.loads(line) for line in (run / METRICS_JSONL).read_text().splitlines()]
    assert [r["res"] for r in records] == ["5x3", "10x6", "10x6", "20x12", "20x12"]
    assert "kind_fd" in records[-1]


def test_a_manifest_of_another_shape_means_no_kinds_and_a_changed_laundry_folder_trains_on(
    tmp_path, caplog
):
    from training_helpers import tiny_config

    from progan.trainer import Trainer

    root = make_small_laundry(tmp_path / "data")
    plain = tmp_path / "plain"
    shutil.copytree(root / "laundry" / "images", plain)
    for other in ("[1, 2]", '{"settings": "v2"}', '{"settings": {"laundry": 3}}'):
        (plain / "manifest.json").write_text(other)  # some other project's manifest.json
        assert kinds.kinds_of_source(FolderSource(plain)) is None
    photos = root / "laundry" / "images"
    extra = photos / "zz-mine.jpg"
    shutil.copy(next(photos.glob("*.jpg")), extra)  # a photo the manifest does not know
    with pytest.raises(ProganError, match="is not in the laundry manifest"):
        kinds.kinds_of_source(FolderSource(photos))
    trainer = Trainer(tiny_config(tmp_path / "run", photos, max_res=(3, 5)))
    assert trainer.kinds_shown is None and "no kind figures at phase ends" in caplog.text
    manifest = json.loads((root / "laundry" / "manifest.json").read_text())
    (root / "laundry" / "manifest.json").write_text(json.dumps(manifest | {"images": 7}))
    extra.unlink()
    with pytest.raises(ProganError, match="manifest beside .* is damaged"):
        kinds.kinds_of_source(FolderSource(photos))
