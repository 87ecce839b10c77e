import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from training_helpers import (
    SMALL_LAUNDRY,
    TINY,
    StopMidFade,
    assert_same_weights,
    make_small_laundry,
    tensorboard_scalars,
    tiny_config,
)

import progan
from app.model import default_name
from config import ScheduleConfig, TrainConfig
from progan import backend, checkpoints, run_folder, training_step
from progan import train_command as train_cli
from progan.cli import run
from progan.errors import ProganError
from progan.export import to_uint8
from progan.layers import downsample2x
from progan.phase_report import PhaseReport
from progan.schedule import ema_beta
from progan.stopping import TrainingDiverged
from progan.trainer import Trainer
from tests.conftest import write_grey_folder

REPO = Path(__file__).resolve().parent.parent


def test_resume_mid_fade_in_continues_exactly(image_folder, tmp_path):
    straight = Trainer(tiny_config(tmp_path / "a", image_folder))
    straight.train()

    stopped = StopMidFade(tiny_config(tmp_path / "b", image_folder))
    with pytest.raises(KeyboardInterrupt):
        stopped.train()
    assert (stopped.progress.phase, stopped.progress.phase_images) == (1, 24)
    log = tmp_path / "b" / run_folder.METRICS_JSONL
    with open(log, "a") as handle:  # a phase end logged after the checkpoint, then a cut line
        handle.write('{"kimg": 0.096, "phase": 1}\n{"kimg": 0.1')

    resumed = Trainer(tiny_config(tmp_path / "b", image_folder, resume=True))
    assert resumed.progress.images_shown == 48 + 24
    assert resumed.progress.alpha == pytest.approx(0.5)
    assert int(resumed.models.g_opt.iterations.numpy()) == 3  # Adam state restored mid-phase
    resumed.train()
    assert resumed.progress.images_shown == straight.progress.images_shown == 144
    assert_same_weights(
        (straight.models.G_ema, resumed.models.G_ema), (straight.models.D, resumed.models.D)
    )
    # one whole line per phase end, as the straight run logged them
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    expected = checkpoints.read_log(tmp_path / "a" / run_folder.METRICS_JSONL)
    assert [(r["kimg"], r["phase"]) for r in logged] == [(r["kimg"], r["phase"]) for r in expected]


def test_every_save_writes_the_ema_generator_as_a_render_only_latest_export(image_folder, tmp_path):
    stopped = StopMidFade(tiny_config(tmp_path / "run", image_folder))
    with pytest.raises(KeyboardInterrupt):
        stopped.train()
    latest = tmp_path / "run" / "latest"
    saved = checkpoints.load(checkpoints.path_for(stopped.state.ckpt_dir, 72))
    meta = json.loads((latest / "model.json").read_text())
    # halfway through the 10x6 fade-in: only 5x3 renders whole, from this save's EMA G
    assert (meta["images_shown"], meta["stages"], meta["phase"]) == (72, 1, "fade-in")
    assert meta["alpha"] == pytest.approx(0.5)
    with np.load(latest / "generator.npz") as weights:
        assert weights["stem_conv/kernel"] == pytest.approx(saved["generator_ema/stem_conv/kernel"])
    z = np.random.default_rng(0).standard_normal((2, TINY.latent_dim))
    model = progan.load_generator(latest)
    assert model.render(z, "5x3").shape == (2, 3, 5, 3)
    assert default_name(model, latest) == "run-latest"  # the studio's name for it
    with pytest.raises(ProganError, match="render-only"):
        Trainer(tiny_config(tmp_path / "grown", image_folder, start_from=str(latest)))
    finished = Trainer(tiny_config(tmp_path / "run", image_folder, resume=True))
    finished.train()
    # the run's last save is its last phase end: latest and export render the same images
    meta = json.loads((latest / "model.json").read_text())
    assert (meta["images_shown"], meta["stages"]) == (finished.progress.images_shown, 2)
    np.testing.assert_array_equal(
        progan.load_generator(latest).render(z, "10x6"),
        progan.load_generator(tmp_path / "run" / "export").render(z, "10x6"),
    )


def test_train_py_end_to_end_then_grow_with_resume(image_folder, tmp_path):
    run = tmp_path / "run"
    common = ["--data-root", str(tmp_path / "data"), "--batch-sizes", "8,8,8", "--log-every", "2"]
    code = train_cli.main(
        [
            "--data",
            str(image_folder),
            "--out",
            str(run),
            "--max-res",
            "10x6",
            "--kimg-per-phase",
            "0.032",
            *common,
        ]
    )
    assert code == 0
    g = progan.load_generator(run)
    assert g.resolutions == ["5x3", "10x6"] and g.metadata["images_shown"] == 96
    assert g.metadata["dataset"] == image_folder.name
    assert len(list((run / "samples").glob("*.png"))) == 3
    assert list((run / "tb").glob("events.out.tfevents.*"))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["res"] for r in records] == ["5x3", "10x6", "10x6"]
    seconds = [r["train_seconds"] for r in records]
    assert 0 < seconds[0] < seconds[1] < seconds[2] == g.metadata["train_seconds"]

    code = train_cli.main(["--out", str(run), "--resume", "--max-res", "20x12"])
    assert code == 0
    grown = progan.load_generator(run)
    assert grown.resolutions == ["5x3", "10x6", "20x12"]
    assert grown.metadata["images_shown"] == 96 + 64
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["kimg"] for r in records][3:] == [0.128, 0.16]
    # Training time adds up over the resume instead of starting again from zero.
    assert seconds[2] < records[3]["train_seconds"] < grown.metadata["train_seconds"]
    saved = json.loads((run / "config.json").read_text())
    assert saved["max_res"] == [12, 20] and saved["schedule"]["batch_sizes"][:3] == [8, 8, 8]


class StopInFade(StopMidFade):
    """As StopMidFade, after 16 images of the first fade-in (batch 8 of 24 labeled images)."""

    def _log_scalars(self, phase, values, rate):
        Trainer._log_scalars(self, phase, values, rate)
        if phase.fading and self.progress.phase_images >= 16:
            self.stop_signal = 2


def test_conditional_run_resumes_exactly_and_exports_its_classes(labeled_folder, tmp_path):
    def config(name, **changes):
        return tiny_config(tmp_path / name, labeled_folder, labels=True, **changes)

    straight = Trainer(config("a"))
    assert straight.net.classes == ("blue", "green", "red")
    # the unreadable file sits among the blue images: every cached image keeps its own label
    np.testing.assert_array_equal(straight.labels, [0] * 8 + [1] * 8 + [2] * 8)
    straight.train()
    stopped = StopInFade(config("b"))
    with pytest.raises(KeyboardInterrupt):
        stopped.train()
    resumed = Trainer(config("b", resume=True))
    assert resumed.progress.alpha == pytest.approx(16 / 48)
    resumed.train()
    assert_same_weights(
        (straight.models.G_ema, resumed.models.G_ema), (straight.models.D, resumed.models.D)
    )
    assert json.loads((tmp_path / "b" / "config.json").read_text())["network"]["classes"] == [
        "blue",
        "green",
        "red",
    ]

    g = progan.load_generator(tmp_path / "a")
    assert g.classes == ["blue", "green", "red"]
    z = progan.seed_latents([5, 5], g.latent_dim)
    by_name = g.render(z, "10x6", labels=["red", "blue"])
    np.testing.assert_array_equal(by_name, g.render(z, "10x6", labels=[2, 0]))
    assert not np.array_equal(by_name[0], by_name[1])
    with pytest.raises(ProganError, match="is conditional: give labels"):
        g.render(z, "10x6")
    with pytest.raises(ProganError, match="'purple' is not a class of this model"):
        g.render(z, "10x6", labels="purple")
    # the sample grid has one row per class, the same seeds in every row
    grid = np.asarray(Image.open(sorted((tmp_path / "a" / "samples").glob("*.png"))[-1]))
    assert grid.shape[:2] == (3 * 96 + 2 * 2, 2 * 160 + 2)  # 10x6 enlarged 16×, 2 px gaps


def test_fastest_step_times_each_candidate_after_its_first_call_and_keeps_the_faster():
    calls, chosen = [], []

    def candidate(name, seconds):
        def step(batch, alpha):
            calls.append(name)
            time.sleep(seconds if len(calls) > 2 else 0.05)  # first calls: tracing, not timed
            return {"d_loss": np.float32(batch)}

        return step

    step = backend.fastest_step(
        {"slow": candidate("slow", 0.02), "fast": candidate("fast", 0.001)},
        3,
        lambda name, medians: chosen.append((name, medians)),
    )
    for k in range(12):
        assert step(k, 0.5) == {"d_loss": np.float32(k)}  # every call is a real step
    assert calls[:8] == ["slow", "fast"] * 4 and calls[8:] == ["fast"] * 4
    ((name, medians),) = chosen
    assert name == "fast" and medians["fast"] < medians["slow"]


def test_out_of_memory_is_told_from_other_tensorflow_errors():
    errors = tf.errors
    assert backend.is_out_of_memory(errors.ResourceExhaustedError(None, None, "OOM"))
    for message in ("Dst tensor is not initialized.", "CUDNN_STATUS_ALLOC_FAILED in conv"):
        assert backend.is_out_of_memory(errors.InternalError(None, None, message))
    assert not backend.is_out_of_memory(errors.InternalError(None, None, "a kernel failed"))
    assert not backend.is_out_of_memory(errors.UnavailableError(None, None, "OOM"))
    assert not backend.is_out_of_memory(MemoryError())  # the host's, not a device's


def test_a_candidate_step_out_of_memory_drops_out_and_its_batch_is_trained_by_the_other():
    calls, chosen = [], []

    def plain(batch, alpha):
        calls.append(("plain", batch))
        return {"d_loss": np.float32(batch)}

    def xla(batch, alpha):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    step = backend.fastest_step(
        {"plain": plain, "XLA": xla}, 3, lambda name, medians: chosen.append((name, medians))
    )
    assert [step(k, 0.5) for k in range(6)] == [{"d_loss": np.float32(k)} for k in range(6)]
    assert calls == [("plain", k) for k in range(6)]  # batch 1 failed under XLA, then ran plain
    ((name, medians),) = chosen
    assert name == "plain" and medians["XLA"] == np.inf
    only = backend.fastest_step({"XLA": xla}, 3, lambda name, medians: None)
    with pytest.raises(tf.errors.ResourceExhaustedError):
        only(0, 0.5)


def test_auto_jit_tries_xla_on_long_phases_only(image_folder, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(training_step, "AUTO_JIT_MIN_STEPS", 20)

    def one_stage(name, kimg):
        schedule = ScheduleConfig(kimg_per_phase=kimg, batch_sizes=(8,))
        return tiny_config(
            tmp_path / name, image_folder, max_res=(3, 5), schedule=schedule, eval_images=0
        )

    long = one_stage("long", 0.16)  # 20 steps
    with caplog.at_level(logging.INFO, logger="progan.training_step"):
        Trainer(long).train()
    chosen = [r.getMessage() for r in caplog.records if "keeping" in r.getMessage()]
    assert len(chosen) == 1 and re.match(r"5x3 stabilize step: plain .* ms, XLA .* ms", chosen[0])
    assert json.loads((tmp_path / "long" / "config.json").read_text())["jit"] == "auto"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="progan.training_step"):
        Trainer(one_stage("short", 0.152)).train()  # 19 steps
    assert not [r for r in caplog.records if "keeping" in r.getMessage()]
    old = json.loads(
        (REPO / "tests" / "fixtures" / "run_before_labels" / "config.json").read_text()
    )
    assert TrainConfig.from_dict(old).jit == "off"  # saved as false before "auto"
    assert TrainConfig.from_dict(old | {"jit": True}).jit == "on"


def test_rgb_label_entry_trains_and_exports_a_toRGB_per_class(labeled_folder, tmp_path):
    network = dataclasses.replace(TINY, label_entry="rgb")
    trainer = Trainer(tiny_config(tmp_path / "rgb", labeled_folder, labels=True, network=network))
    trainer.train()
    saved = json.loads((tmp_path / "rgb" / "export" / "model.json").read_text())
    assert saved["network"]["label_entry"] == "rgb"
    g = progan.load_generator(tmp_path / "rgb")
    z = progan.seed_latents([7, 7, 7], g.latent_dim)
    images = g.render(z, "10x6", labels=["blue", "green", "red"])
    expected = trainer.models.G_ema(z, stage=1, labels=np.array([0, 1, 2])).numpy()
    assert np.abs(images.astype(int) - to_uint8(expected)).max() <= 1
    assert all(not np.array_equal(images[0], other) for other in images[1:])


def test_a_checkpoint_from_before_labels_resumes_and_grows(image_folder, tmp_path):
    """tests/fixtures/run_before_labels was written by the trainer as it was before class
    labels existed (commit f39f462): its config lacks the new fields and its checkpoint the
    embeddings, and both still load, with every weight restored."""
    run = tmp_path / "old"
    shutil.copytree(REPO / "tests" / "fixtures" / "run_before_labels", run)
    saved = train_cli.load_config(run)
    assert saved.network.classes == () and saved.labels is False
    cfg = dataclasses.replace(
        saved,
        out=str(run),
        data=str(image_folder),
        data_root=str(tmp_path / "data"),
        resume=True,
        max_res=(12, 20),
        eval_images=0,
    )
    trainer = Trainer(cfg)
    assert trainer.progress.images_shown == 144
    with np.load(run / "export" / "generator.npz") as exported:
        for variable in trainer.models.G_ema.weights:
            if variable.path in exported:
                np.testing.assert_array_equal(variable.numpy(), exported[variable.path])
    trainer.train()
    assert progan.load_generator(run).resolutions == ["5x3", "10x6", "20x12"]


def test_from_an_export_continues_exactly_like_resume(image_folder, tmp_path):
    """A run grown from its export's training state on another machine matches the same run
    grown with --resume: same counters, same critic, same exported EMA generator."""
    first = tiny_config(tmp_path / "first", image_folder, max_res=(6, 10))
    Trainer(first).train()
    shutil.copytree(tmp_path / "first", tmp_path / "resumed")
    resumed = Trainer(
        tiny_config(tmp_path / "resumed", image_folder, max_res=(12, 20), resume=True)
    )
    resumed.train()
    moved = tmp_path / "elsewhere" / "export"
    shutil.copytree(tmp_path / "first" / "export", moved)  # the export alone travels
    code = train_cli.main(
        ["--from", str(moved), "--out", str(tmp_path / "grown"), "--max-res", "20x12"]
        + ["--data", str(image_folder), "--data-root", str(tmp_path / "data")]
    )
    assert code == 0
    saved = json.loads((tmp_path / "grown" / "config.json").read_text())
    assert saved["start_from"] == str(moved.resolve()) and saved["max_res"] == [12, 20]
    grown = progan.load_generator(tmp_path / "grown")
    assert grown.metadata["images_shown"] == resumed.progress.images_shown == 144 + 96
    with np.load(tmp_path / "resumed" / "export" / "generator.npz") as a:
        for key, value in np.load(tmp_path / "grown" / "export" / "generator.npz").items():
            np.testing.assert_allclose(value, a[key], rtol=1e-4, atol=1e-5)
    with np.load(tmp_path / "resumed" / "export" / "training_state.npz") as a:
        state = np.load(tmp_path / "grown" / "export" / "training_state.npz")
        assert sorted(state) == sorted(a) and any(k.startswith("discriminator/") for k in a)
        for key in a:
            np.testing.assert_allclose(state[key], a[key], rtol=1e-4, atol=1e-5)
    # --channels with --from widens the stages it grows; the export's stay as they are
    argv = ["--from", str(moved), "--out", str(tmp_path / "wide"), "--max-res", "20x12"]
    argv += ["--data", str(image_folder), "--data-root", str(tmp_path / "data")]

    def with_channels(text):
        given = [*argv, "--channels", text]
        return train_cli.config_from_args(train_cli.build_parser().parse_args(given), given)

    wide = with_channels("16,16,24")
    assert wide.network.channels == (16, 16, 24, 8)
    widened = {v.path: v for v in Trainer(wide).models.G.weights}
    assert widened["block2_conv2/kernel"].shape == (3, 3, 24, 24)
    with np.load(moved / "training_state.npz") as first_run:
        kept = first_run["generator/block1_conv2/kernel"]
        np.testing.assert_allclose(widened["block1_conv2/kernel"].numpy(), kept, rtol=1e-3)
    with pytest.raises(ProganError, match=r"stages \(16,16\) to whole multiples.*8 is not"):
        with_channels("16,8,24")
    # a run set up for 20x12 but exported at 10x6 saved its untrained 20x12 stage too: the
    # widened run initialises that stage itself instead of failing on its narrower shape
    with np.load(moved / "training_state.npz") as saved:
        state = dict(saved)
    state["generator/block2_conv2/kernel"] = np.zeros((3, 3, 8, 8), np.float32)
    np.savez(moved / "training_state.npz", **state)
    assert Trainer(with_channels("16,16,24")).models.G.blocks[1].conv2.kernel.shape == (
        3,
        3,
        24,
        24,
    )


def test_from_widens_trained_stages_computing_the_same_then_the_copies_learn_apart(
    labeled_folder, tmp_path
):
    """--channels doubling an export's trained stages (Net2WiderNet): G, its EMA and D compute
    what the export's did, stable and fading, and the duplicated feature maps, equal at the
    start, differ after a few steps of training."""
    network = dataclasses.replace(TINY, label_entry="rgb")
    first = Trainer(
        tiny_config(
            tmp_path / "first", labeled_folder, labels=True, network=network, max_res=(12, 20)
        )
    )
    first.train()
    argv = ["--from", str(tmp_path / "first" / "export"), "--out", str(tmp_path / "wide")]
    argv += ["--data", str(labeled_folder), "--data-root", str(tmp_path / "data")]
    argv += ["--final-kimg", "0.024"]

    def with_channels(text):
        given = [*argv, "--channels", text]
        return train_cli.config_from_args(train_cli.build_parser().parse_args(given), given)

    wide = Trainer(with_channels("16,32,16"))
    assert wide.models.G.blocks[0].conv2.kernel.shape == (3, 3, 32, 32)  # 10x6: 16 -> 32 maps
    assert wide.models.G.blocks[1].conv1.kernel.shape == (3, 3, 32, 16)  # 20x12: 8 -> 16
    assert wide.models.D.blocks[1].conv2.kernel.shape == (3, 3, 16, 32)
    z = progan.seed_latents([1, 2, 3, 4], TINY.latent_dim)
    labels = np.array([0, 1, 2, 0])
    images = first.models.G(z, stage=2, labels=labels)
    for stage, fading in [(2, False), (2, True), (1, False)]:
        # the export holds the EMA generator's top stage only (its lower toRGBs are not kept)
        pairs = [(first.models.G, wide.models.G)] + [(first.models.G_ema, wide.models.G_ema)] * (
            stage == 2 and not fading
        )
        for old, new in pairs:
            np.testing.assert_allclose(
                new(z, stage=stage, alpha=0.3, fading=fading, labels=labels).numpy(),
                old(z, stage=stage, alpha=0.3, fading=fading, labels=labels).numpy(),
                atol=1e-4,
            )
        scaled = images if stage == 2 else downsample2x(images)
        np.testing.assert_allclose(
            wide.models.D(scaled, stage=stage, alpha=0.3, fading=fading, labels=labels).numpy(),
            first.models.D(scaled, stage=stage, alpha=0.3, fading=fading, labels=labels).numpy(),
            rtol=1e-4,
            atol=1e-4,
        )

    def copies_apart(trainer):
        kernel = trainer.models.G.blocks[0].conv1.kernel.numpy()
        return np.abs(kernel[..., :16] - kernel[..., 16:]).max()

    assert copies_apart(wide) == 0
    wide.train()
    assert (
        wide.progress.images_shown == first.progress.images_shown + 24 and copies_apart(wide) > 1e-3
    )
    for text, message in [
        ("16,24,16", "24 is not a whole multiple of 16"),
        ("32,32,16", "the base stage keeps its 16 feature maps"),
    ]:
        with pytest.raises(ProganError, match=message):
            with_channels(text)


def test_the_shipped_model_grows_to_320x192_as_the_readme_says(tmp_path):
    """README's command on the default export (on ten 320x180 laundry photos, a step per
    phase): the 320x192 fade-in starts from the shipped weights, and the export it ends with
    renders 320x192 and still renders the 160x96 it was given."""
    settings = dataclasses.replace(SMALL_LAUNDRY, size=(180, 320))
    root = make_small_laundry(tmp_path / "data", settings)
    argv = ["--from", "checkpoints", "--out", str(tmp_path / "grow"), "--max-res", "320x192"]
    argv += ["--data", str(root / "laundry-recolored" / "images"), "--data-root", str(root)]
    argv += ["--kimg-per-phase", "0.008", "--final-kimg", "0", "--batch-sizes", "8,8,8,8,8,8,8"]
    argv += ["--eval-images", "0"]
    cfg = train_cli.config_from_args(train_cli.build_parser().parse_args(argv), argv)
    shipped = progan.load_generator(REPO / "checkpoints")
    grown = Trainer(cfg)
    shown = shipped.metadata["images_shown"]
    assert grown.progress.images_shown == shown
    assert [p.name for p in grown.phases[grown.progress.phase :]] == ["fade-in", "stabilize"]
    z = progan.seed_latents([0, 1], shipped.net.latent_dim)
    labels = np.array([2, 4])
    before = to_uint8(grown.models.G_ema(z, stage=5, labels=labels).numpy())
    np.testing.assert_allclose(before, shipped.render(z, "160x96", labels=labels), atol=1)
    folder = grown.train()
    g = progan.load_generator(folder)
    assert g.resolutions[-1] == "320x192" and grown.progress.images_shown == shown + 16
    assert g.render(z, "320x192", labels=labels).shape == (2, 192, 320, 3)


def test_from_adds_noise_inputs_at_zero_strength_and_training_turns_them_up(image_folder, tmp_path):
    """--noise-inputs on an export: G and its EMA render what the export's did until training
    gives the noise a strength; the export written after says so and renders a seed the same
    every time."""
    first = Trainer(tiny_config(tmp_path / "first", image_folder, max_res=(12, 20)))
    first.train()
    argv = ["--from", str(tmp_path / "first" / "export"), "--out", str(tmp_path / "noisy")]
    argv += ["--data", str(image_folder), "--data-root", str(tmp_path / "data")]
    argv += ["--final-kimg", "0.048", "--noise-inputs"]
    noisy = Trainer(train_cli.config_from_args(train_cli.build_parser().parse_args(argv), argv))
    z = progan.seed_latents([1, 2, 3, 4], TINY.latent_dim)
    for old, new in [(first.models.G, noisy.models.G), (first.models.G_ema, noisy.models.G_ema)]:
        np.testing.assert_allclose(new(z, stage=2).numpy(), old(z, stage=2).numpy(), atol=1e-6)

    def strengths(trainer):
        return [
            np.abs(n.strength.numpy()).max() for b in trainer.models.G_ema.blocks for n in b.noise
        ]

    assert len(strengths(noisy)) == 4 and max(strengths(noisy)) == 0
    folder = noisy.train()
    assert min(strengths(noisy)) > 0
    g = progan.load_generator(folder)
    assert g.net.noise_inputs
    np.testing.assert_array_equal(g.render(z, "20x12"), g.render(z, "20x12"))
    resumed = ["--out", str(tmp_path / "noisy"), "--resume", "--noise-inputs"]
    with pytest.raises(ProganError, match="--noise-inputs shapes a new network"):
        train_cli.config_from_args(train_cli.build_parser().parse_args(resumed), resumed)
    dropped = ["--from", str(folder), "--out", str(tmp_path / "quiet"), "--no-noise-inputs"]
    with pytest.raises(ProganError, match="has trained noise inputs; --no-noise-inputs cannot"):
        train_cli.config_from_args(train_cli.build_parser().parse_args(dropped), dropped)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([], True), (["--no-noise-inputs"], False), (["--preset", "paper"], False)],
)
def test_the_cpu_preset_has_noise_inputs_and_a_new_run_may_go_without(tmp_path, flags, expected):
    argv = ["--out", str(tmp_path / "run"), *flags]
    cfg = train_cli.config_from_args(train_cli.build_parser().parse_args(argv), argv)
    assert cfg.network.noise_inputs is expected


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--log-every", "0"], "--log-every: must be a whole number from 1 to"),
        (["--keep", "0"], "--keep: must be a whole number from 1"),
        (["--save-every-min", "0"], "--save-every-min: must be a number more than 0, got '0'"),
        (["--eval-images", "-1"], "--eval-images: must be a whole number from 0"),
        (["--eval-images", "1"], "--eval-images must be 0 .* or at least 2, got 1"),
        (["--eval-images", "1000000000"], "--eval-images: must be a whole number from 0 to 200000"),
        (["--kimg-per-phase", "-5"], "--kimg-per-phase: must be a number more than 0"),
        (["--epochs-per-res", "0"], "--epochs-per-res: must be a number more than 0"),
        (["--lr", "0"], "--lr: must be a number more than 0"),
        (["--lr", "nan"], "--lr: must be a number more than 0, got 'nan'"),
        (["--final-kimg", "inf"], "--final-kimg: must be a number 0 or more, got 'inf'"),
        (["--final-kimg", "-1"], "--final-kimg: must be a number 0 or more"),
        (["--final-lr", "0"], "--final-lr: must be a number more than 0"),
        (["--n-critic", "0"], "--n-critic: must be a whole number from 1"),
        (["--r1-gamma", "-1"], "--r1-gamma: must be a number 0 or more"),
        (["--ema-kimg", "0"], "--ema-kimg: must be a number more than 0"),
        (["--seed", str(2**32)], "--seed: must be a whole number from 0 to 4294967295"),
        (["--strategy", "multiworker", "--keep", "1"], "multiworker needs --keep 2 or more"),
    ],
)
def test_numeric_flags_out_of_range_are_refused_in_one_line(tmp_path, capsys, flags, message):
    """Refused before any data set or TensorFlow loads, and before config.json keeps them (a
    zero interval divides by zero, and ``nan`` passes every later comparison)."""
    with pytest.raises(SystemExit) as exit_info:
        run(train_cli.main, ["--out", str(tmp_path / "run"), *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_a_failing_phase_end_evaluation_does_not_stop_the_run(
    image_folder, tmp_path, caplog, monkeypatch
):
    def unmeasurable(self, G_ema, stage):
        raise ValueError("evaluation needs at least 2 fakes and 4 reals")

    monkeypatch.setattr(PhaseReport, "evaluate", unmeasurable)
    trainer = Trainer(tiny_config(tmp_path / "run", image_folder, max_res=(6, 10)))
    trainer.train()
    assert trainer.progress.images_shown == 144 and (tmp_path / "run" / "export").is_dir()
    logged = checkpoints.read_log(tmp_path / "run" / run_folder.METRICS_JSONL)
    assert len(logged) == 3 and not any("swd" in r for r in logged)
    assert "phase 0: no evaluation (evaluation needs at least 2 fakes" in caplog.text


def test_eval_images_reaches_the_run(tmp_path):
    for given, expected in ((["--eval-images", "0"], 0), (["--eval-images", "64"], 64), ([], 256)):
        argv = ["--out", str(tmp_path / "run"), *given]
        assert train_cli.config_from_args(
            train_cli.build_parser().parse_args(argv), argv
        ).eval_images == (expected)


def test_from_needs_an_export_with_training_state(tmp_path):
    old = REPO / "tests" / "fixtures" / "run_before_labels"
    for argv, message in [
        (["--from", str(old), "--out", str(tmp_path / "x")], "holds no training state"),
        (["--from", str(old), "--resume"], "not both"),
        (["--from", str(tmp_path), "--out", str(tmp_path / "y")], "is not a model"),
        # found before the data set is built: a shipped export without its training state, and
        # a --max-res below the export's top stage
        (["--from", str(REPO / "checkpoints" / "laundry-color")], "render-only export"),
        (
            ["--from", str(REPO / "checkpoints"), "--max-res", "80x48"],
            "--max-res 80x48 is below .* top stage 160x96; .* give --max-res 160x96 or more",
        ),
    ]:
        with pytest.raises(ProganError, match=message):
            train_cli.config_from_args(train_cli.build_parser().parse_args(argv), argv)


def test_export_holds_the_ema_weights(image_folder, tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run", image_folder, max_res=(3, 5)))
    folder = trainer.train()
    with np.load(folder / "generator.npz") as weights:
        for ema, live in zip(trainer.models.G_ema.weights, trainer.models.G.weights, strict=True):
            if ema.path in weights:
                np.testing.assert_array_equal(weights[ema.path], ema.numpy())
                assert not np.array_equal(weights[ema.path], live.numpy())


def test_mirrored_on_two_logical_cpus_matches_one_device(image_folder, tmp_path):
    assert len(tf.config.list_logical_devices("CPU")) == 2
    results = {}
    for strategy in ("default", "mirrored"):
        trainer = Trainer(
            tiny_config(tmp_path / strategy, image_folder, max_res=(3, 5), strategy=strategy)
        )
        trainer.train()
        results[strategy] = trainer
    assert results["mirrored"].strategy.num_replicas_in_sync == 2
    one, two = results["default"].last_losses, results["mirrored"].last_losses
    for key in ("d_loss", "g_loss", "gp", "wasserstein"):
        assert one[key] == pytest.approx(two[key], rel=1e-4, abs=1e-5)
    assert_same_weights((results["default"].models.G, results["mirrored"].models.G))


def test_run_folder_guards_and_too_little_data(image_folder, tmp_path):
    with pytest.raises(ProganError, match="nothing to resume"):
        Trainer(tiny_config(tmp_path / "fresh", image_folder, resume=True))
    Trainer(tiny_config(tmp_path / "run", image_folder, max_res=(3, 5))).train()
    with pytest.raises(ProganError, match="--resume"):
        Trainer(tiny_config(tmp_path / "run", image_folder, max_res=(3, 5)))
    few = tmp_path / "few"
    few.mkdir()
    for name in list(image_folder.glob("img00*.png"))[:3]:
        (few / name.name).write_bytes(name.read_bytes())
    with pytest.raises(ProganError, match="fewer than one batch"):
        Trainer(tiny_config(tmp_path / "small", few))


def test_minibatch_stddev_groups_never_fall_to_one_silently(image_folder, tmp_path, caplog):
    odd = ScheduleConfig(kimg_per_phase=0.048, batch_sizes=(6, 6, 6, 6))
    with caplog.at_level("WARNING"):
        Trainer(tiny_config(tmp_path / "a", image_folder, schedule=odd))
    assert "groups smaller than 4" in caplog.text and "5x3: 3, 10x6: 3" in caplog.text
    prime = ScheduleConfig(kimg_per_phase=0.048, batch_sizes=(7, 8, 8, 8))
    with pytest.raises(
        ProganError,
        match="at 5x3 each of the 1 replicas gets 7 images.*--batch-sizes a multiple of 4",
    ):
        Trainer(tiny_config(tmp_path / "b", image_folder, schedule=prime))
    mirrored = ScheduleConfig(kimg_per_phase=0.048, batch_sizes=(2, 8, 8, 8))
    with pytest.raises(ProganError, match="2 replicas gets 1 images.*multiple of 8"):
        Trainer(tiny_config(tmp_path / "c", image_folder, schedule=mirrored, strategy="mirrored"))


class PoisonedAfterThreeSteps(Trainer):
    """Writes NaN into a critic weight after the third step, as a diverging update would."""

    def make_step(self, phase, batch_size, regularize=True, steps=0):
        step = super().make_step(phase, batch_size, regularize, steps)
        done = [0]

        def poisoned(batch, alpha):
            metrics = step(batch, alpha)
            done[0] += 1
            if done[0] == 3:
                self.models.D.head.score.bias.assign([np.nan])
            return metrics

        return poisoned


def test_a_nan_in_training_stops_the_run_before_it_is_saved(image_folder, tmp_path):
    """Saves follow every step, logs never come: the check before each save must catch it."""
    cfg = tiny_config(tmp_path / "run", image_folder, max_res=(3, 5), save_every_min=0.0)
    cfg = dataclasses.replace(cfg, log_every_steps=1000, keep_checkpoints=10)
    with pytest.raises(TrainingDiverged, match="score/bias became NaN/Inf at 24 images"):
        PoisonedAfterThreeSteps(cfg).train()
    # the save after step 2; step 3's was refused
    assert _latest_step(tmp_path / "run" / "checkpoints") == 16
    resumed = Trainer(dataclasses.replace(cfg, resume=True))
    assert all(np.isfinite(v.numpy()).all() for v in resumed.models.D.weights)


def out_of_memory() -> tf.errors.ResourceExhaustedError:
    return tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor [8,32,6,10]")


class OutOfMemoryAtTheFadeIn(Trainer):
    """A device that holds the 10x6 fade-in's step only up to ``largest_fit`` images (larger
    fail as TensorFlow fails); the batch sizes of the steps made are noted."""

    largest_fit = 4

    def make_step(self, phase, batch_size, regularize=True, steps=0):
        step = super().make_step(phase, batch_size, regularize, steps)
        self.__dict__.setdefault("batches", []).append(batch_size)

        def too_big(batch, alpha):
            if phase.fading and batch_size > self.largest_fit:
                raise out_of_memory()
            return step(batch, alpha)

        return too_big


def resume_as_told(error: ProganError, cls: type[Trainer] = Trainer) -> Trainer:
    """The run of the command a one-line error ends with."""
    argv = str(error).split("python train.py ")[1].split()
    return cls(train_cli.config_from_args(train_cli.build_parser().parse_args(argv), argv))


def test_out_of_memory_is_one_line_with_the_command_that_resumes_with_smaller_batches(
    image_folder, tmp_path
):
    run = tmp_path / "run"
    cfg = tiny_config(run, image_folder, schedule=ScheduleConfig(0.048, batch_sizes=(8, 8)))
    with pytest.raises(ProganError) as raised:
        OutOfMemoryAtTheFadeIn(cfg).train()
    assert str(raised.value) == (
        f"out of memory at 10x6 fade-in with batches of 8; resume with smaller ones: "
        f"python train.py --out {run} --resume --batch-sizes 8,4"
    )
    resumed = resume_as_told(raised.value, OutOfMemoryAtTheFadeIn)
    assert resumed.progress.images_shown == 48
    resumed.train()  # what the first run could not do, now in batches of 4
    assert resumed.batches == [4, 4] and resumed.progress.images_shown == 48 * 3
    schedule = ScheduleConfig(0.048, batch_sizes=(8, 2))
    small = OutOfMemoryAtTheFadeIn(tiny_config(tmp_path / "small", image_folder, schedule=schedule))
    small.largest_fit = 1
    with pytest.raises(ProganError, match="fade-in with batches of 2, already the smallest"):
        small.train()


def test_smaller_batches_split_over_the_replicas_and_cap_the_stages_above(
    image_folder, tmp_path, monkeypatch
):
    schedule = ScheduleConfig(0.048, batch_sizes=(16, 12, 8, 8, 32))
    trainer = Trainer(tiny_config(tmp_path / "run", image_folder, schedule=schedule))
    monkeypatch.setattr(Trainer, "replicas", property(lambda self: 2))
    trainer.cluster.workers = 2
    message = trainer._smaller_batches(trainer.phases[1])
    # half of 12 is 6, which 2 replicas cannot split into groups of 2: 4
    assert message.endswith(
        f"resume with smaller ones on every worker: python train.py --out {tmp_path / 'run'} "
        "--resume --batch-sizes 16,4,4,4,4"
    )


class OutOfMemoryEvaluating(Trainer):
    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        evaluate = self.report.evaluate

        def too_big(G_ema, stage):
            if self.cfg.eval_images:
                raise out_of_memory()
            return evaluate(G_ema, stage)

        self.report.evaluate = too_big


def test_out_of_memory_at_a_phase_end_resumes_without_the_evaluation(image_folder, tmp_path):
    run = tmp_path / "run"
    cfg = tiny_config(run, image_folder, max_res=(3, 5), eval_images=64)
    with pytest.raises(ProganError) as raised:
        OutOfMemoryEvaluating(cfg).train()
    assert str(raised.value) == (
        "out of memory evaluating the phase end on 64 images; resume without the evaluation: "
        f"python train.py --out {run} --resume --eval-images 0"
    )
    resumed = resume_as_told(raised.value, OutOfMemoryEvaluating)
    assert resumed.train() == run / "export" and resumed.progress.images_shown == 48


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    loose = tmp_path / "loose"
    loose.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(loose / "a.png")
    for args, message in [
        (["--data", str(empty), "--out", str(tmp_path / "r")], "has no images"),
        (["--max-res", "81x48x"], "WIDTHxHEIGHT"),
        (["--out", str(tmp_path / "nothing"), "--resume"], "nothing to resume"),
        (["--bogus"], "unrecognized arguments"),
        (
            ["--data", str(loose), "--out", str(tmp_path / "r2"), "--labels"]
            + ["--data-root", str(tmp_path / "data")],
            "outside class subfolders",
        ),
    ]:
        proc = subprocess.run(
            [sys.executable, "train.py", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and message in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr


def train_command(image_folder: Path, run: Path, tmp_path: Path, kimg: str, *extra: str) -> list:
    """train.py at 5x3 with batches of 8 on the test images, as a subprocess command."""
    return [
        sys.executable,
        "train.py",
        "--data",
        str(image_folder),
        "--out",
        str(run),
        "--data-root",
        str(tmp_path / "data"),
        "--max-res",
        "5x3",
        "--kimg-per-phase",
        kimg,
        "--batch-sizes",
        "8",
        *extra,
    ]


def _latest_step(folder: Path) -> int:
    return checkpoints.steps(folder)[-1]


def _wait_for_checkpoint_after(ckpt_dir: Path, images: int, proc, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        saved = checkpoints.steps(ckpt_dir)
        if saved and saved[-1] > images:
            return saved[-1]
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    raise AssertionError("no new checkpoint in time")


def test_kill_9_keeps_a_loadable_checkpoint_and_ctrl_c_saves(image_folder, tmp_path):
    run = tmp_path / "run"
    command = train_command(image_folder, run, tmp_path, "100", "--save-every-min", "0.005")
    proc = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_checkpoint_after(run / "checkpoints", 0, proc)
        time.sleep(1.0)  # saves every 0.3 s: the kill lands near one
        proc.kill()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    latest = _latest_step(run / "checkpoints")
    cfg = dataclasses.replace(train_cli.load_config(run), resume=True)
    restored = Trainer(cfg)
    assert restored.progress.images_shown == latest > 0

    proc = subprocess.Popen(
        [*command[:2], "--out", str(run), "--resume"], cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_checkpoint_after(run / "checkpoints", latest, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "continue with: python train.py --out" in err and "Traceback" not in err
    final = _latest_step(run / "checkpoints")
    assert final > latest


def _free_ports(count: int) -> list[int]:
    """``count`` free ports below the kernel's ephemeral range, for the workers to bind.

    A port the kernel handed out (``bind(0)``) and the test then closed could be handed out
    again to any outgoing connection before the worker binds it; TensorFlow's gRPC server binds
    without SO_REUSEPORT, so the test cannot keep holding it. Below the ephemeral range the
    kernel hands out nothing, so a port that is free now stays free unless named."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = np.random.default_rng()
    ports: list[int] = []
    while len(ports) < count:
        port = int(rng.integers(max(1024, low - 12_000), low))
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


def _workers(commands: list[str] | list[list[str]], count: int = 2) -> list[subprocess.Popen]:
    """``count`` workers on loopback running one command, or each its own of a list."""
    commands = commands if isinstance(commands[0], list) else [commands] * count
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(len(commands))]}
    procs = []
    for index, own in enumerate(commands):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = os.environ | {"TF_CONFIG": json.dumps(task)}
        procs.append(subprocess.Popen(own, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True))
    return procs


def _outputs(workers: list[subprocess.Popen], timeout: float) -> list[str]:
    """Each worker's stderr once it has exited; none is left running."""
    try:
        return [proc.communicate(timeout=timeout)[1] for proc in workers]
    finally:
        for proc in workers:
            proc.kill()


def test_multiworker_strategy_with_two_local_workers(image_folder, tmp_path):
    """Two processes on loopback, joined by TF_CONFIG, train one run; the chief reports."""
    run = tmp_path / "run"
    command = train_command(
        image_folder, run, tmp_path, "0.064", "--strategy", "multiworker", "--eval-images", "8"
    )
    workers = _workers(command)
    errors = _outputs(workers, timeout=300)
    assert [p.returncode for p in workers] == [0, 0], errors
    g = progan.load_generator(run)
    assert g.metadata["images_shown"] == 64
    assert not (run / "workers" / "1" / "export").exists()
    assert _latest_step(run / "workers" / "1" / "checkpoints") == 64
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1


def test_epochs_per_res_sets_the_phase_length(image_folder, tmp_path):
    schedule = ScheduleConfig(epochs_per_res=4, batch_sizes=(8, 8, 8, 8))
    trainer = Trainer(tiny_config(tmp_path / "run", image_folder, schedule=schedule))
    assert [p.images for p in trainer.phases] == [62, 62, 62]  # 4 epochs of 31 images / 2
    args = train_cli.build_parser().parse_args(["--epochs-per-res", "20"])
    assert train_cli.config_from_args(args, []).schedule.epochs_per_res == 20
    args = train_cli.build_parser().parse_args(["--epochs-per-res", "20", "--kimg-per-phase", "5"])
    with pytest.raises(ProganError, match="not both"):
        train_cli.config_from_args(args, [])


@pytest.mark.parametrize("policy", ["bf16", "fp16"])
def test_mixed_precision_trains_with_float32_weights(image_folder, tmp_path, policy):
    trainer = Trainer(
        tiny_config(tmp_path / "run", image_folder, max_res=(3, 5), mixed_precision=policy)
    )
    trainer.train()
    assert all(np.isfinite(v) for v in trainer.last_losses.values())
    assert {v.dtype for v in trainer.models.G.weights} == {"float32"}
    compute = {"bf16": "bfloat16", "fp16": "float16"}[policy]
    assert trainer.models.G.stem.dense.compute_dtype == compute
    assert progan.load_generator(tmp_path / "run").render(
        np.zeros((1, 16), np.float32), "5x3"
    ).shape == (1, 3, 5, 3)


@pytest.mark.parametrize(
    ("gpu", "native_bf16", "compute"),
    [(False, True, "bfloat16"), (False, False, "float32"), (True, True, "float32")],
)
def test_auto_precision_is_bf16_only_on_a_cpu_that_computes_it(
    image_folder, tmp_path, monkeypatch, gpu, native_bf16, compute
):
    monkeypatch.setattr(backend, "has_gpu", lambda: gpu)
    monkeypatch.setattr(training_step, "cpu_has_native_bf16", lambda: native_bf16)
    assert TrainConfig(out="x").mixed_precision == "off"  # what a new run gets
    built = Trainer(
        tiny_config(tmp_path / "run", image_folder, max_res=(3, 5), mixed_precision="auto")
    )
    assert built.models.G.stem.dense.compute_dtype == compute
    assert {v.dtype for v in built.models.G.weights} == {"float32"}
    assert training_step.resolve_mixed_precision("fp16") == "fp16"
    with pytest.raises(ProganError, match="off, bf16, fp16, auto"):
        training_step.resolve_mixed_precision("bfloat16")


# Rules of the paper, each pinned so that breaking it fails here ----------------------------------


def test_reals_are_faded_like_the_generator_output():
    from progan.layers import downsample2x, upsample2x
    from progan.training_step import faded_reals

    x = tf.constant(np.random.default_rng(0).standard_normal((2, 6, 10, 3)), tf.float32)
    coarse = upsample2x(downsample2x(x)).numpy()
    np.testing.assert_allclose(faded_reals(x, 0.0, True).numpy(), coarse, atol=1e-6)
    np.testing.assert_allclose(faded_reals(x, 1.0, True).numpy(), x.numpy(), atol=1e-6)
    quarter = faded_reals(x, 0.25, True).numpy()
    np.testing.assert_allclose(quarter, 0.75 * coarse + 0.25 * x.numpy(), atol=1e-6)
    np.testing.assert_array_equal(faded_reals(x, 0.25, False).numpy(), x.numpy())


def _one_step(trainer: Trainer, phase_index: int):
    """Run one training step of phase ``phase_index`` on the run's own first batch."""
    phase = trainer.phases[phase_index]
    batch_size = trainer.cfg.schedule.batch_sizes[phase.stage]
    batch = next(iter(trainer.phase_dataset(phase.stage, 0, 1)))
    return trainer.make_step(phase, batch_size)(batch, tf.constant(0.5, tf.float32))


def by_hand_faded_reals(reals: np.ndarray, alpha: float) -> np.ndarray:
    """The paper's faded reals in plain NumPy: 2×2 means copied back over each 2×2 block,
    blended toward full detail by ``alpha``."""
    n, h, w, c = reals.shape
    coarse = reals.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
    coarse = coarse.repeat(2, axis=1).repeat(2, axis=2)
    return coarse + alpha * (reals - coarse)


@pytest.mark.parametrize(
    "phase_index, labeled",
    [(1, False), (2, False), (1, True)],
    ids=["fade-in", "stabilize", "conditional fade-in"],
)
def test_one_step_computes_the_paper_losses_from_its_batch(
    image_folder, labeled_folder, tmp_path, phase_index, labeled
):
    """One WGAN-GP step at alpha 0.3, recomputed by hand from the same batch: the reals faded at
    that alpha (in a fade-in), G and D called at that alpha, the penalty at the batch's own
    mixing weights, and G's loss from the critic it has just updated. Each of the step's uses of
    alpha, and of the mix, moves some figure far past the tolerance when it is changed."""
    folder = labeled_folder if labeled else image_folder
    trainer = Trainer(tiny_config(tmp_path / "run", folder, labels=labeled))
    loss = trainer.cfg.loss
    assert loss.kind == "wgan-gp" and trainer.cfg.schedule.n_critic == 1
    phase = trainer.phases[phase_index]
    assert phase.stage == 1 and phase.fading == (phase_index == 1)
    G, D, alpha = trainer.models.G, trainer.models.D, 0.3
    batch = next(iter(trainer.phase_dataset(phase.stage, 0, 1)))
    given = {name: np.asarray(value) for name, value in batch.items()}
    y = given["labels"][:, 0] if labeled else None
    y_gen = given["labels_gen"] if labeled else None

    def g(z, labels):
        return G(z, stage=phase.stage, alpha=alpha, fading=phase.fading, labels=labels)

    def d(images, labels):
        return D(images, stage=phase.stage, alpha=alpha, fading=phase.fading, labels=labels)

    reals = given["reals"][:, 0].astype(np.float32) / 127.5 - 1.0
    if phase.fading:
        reals = by_hand_faded_reals(reals, alpha)
    fakes = g(given["z_critic"][:, 0], y).numpy()
    mix = given["gp_mix"][:, 0, None, None, None]
    mixed = tf.Variable(reals + mix * (fakes - reals))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(d(mixed, y))
    norms = tf.norm(tf.reshape(tape.gradient(total, mixed), [len(reals), -1]), axis=1).numpy()
    real, fake = d(reals, y).numpy()[:, 0], d(fakes, y).numpy()[:, 0]
    penalty = (norms - loss.gp_target) ** 2 / loss.gp_target**2
    expected = {
        "wasserstein": np.mean(real - fake),
        "gp": np.mean(penalty),
        "drift": np.mean(real**2),
        "d_loss": np.mean(fake - real + loss.gp_lambda * penalty + loss.drift * real**2),
    }
    fakes_for_g = g(given["z_gen"], y_gen).numpy()  # G before its update, as the step sees it

    trainer.new_optimizers(phase)  # as the loop does at a phase's start
    metrics = trainer.make_step(phase, len(reals))(batch, tf.constant(alpha, tf.float32))

    expected["g_loss"] = -np.mean(d(fakes_for_g, y_gen).numpy())  # D after its update
    for name, value in expected.items():
        np.testing.assert_allclose(float(metrics[name]), value, rtol=2e-4, atol=1e-5, err_msg=name)


def test_the_penalty_mixes_lie_in_the_unit_interval_and_vary_over_a_batch(image_folder, tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run", image_folder))
    for stage, start in [(0, 0), (1, 96)]:
        mix = np.asarray(next(iter(trainer.phase_dataset(stage, start, 1)))["gp_mix"])
        assert mix.shape == (8, 1) and (mix >= 0).all() and (mix < 1).all()
        assert mix.std() > 0.1  # uniform draws: std 0.29 on average, far from a constant


def test_ema_after_one_step_is_beta_old_plus_one_minus_beta_new(image_folder, tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run", image_folder, max_res=(3, 5)))
    for ema in trainer.models.G_ema.weights:  # an EMA away from the live weights, so the rule shows
        ema.assign(ema.numpy() + 0.5)
    old = [v.numpy() for v in trainer.models.G_ema.weights]
    _one_step(trainer, 0)
    beta = ema_beta(trainer.cfg.schedule.ema_kimg, 8 * trainer.cfg.schedule.n_critic)
    stage_vars = {v.path for v in trainer.models.G_ema.stage_variables(0, False)}
    for before, ema, live in zip(
        old, trainer.models.G_ema.weights, trainer.models.G.weights, strict=True
    ):
        if ema.path in stage_vars:
            expected = beta * before + (1 - beta) * live.numpy()
            np.testing.assert_allclose(ema.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_fade_ins_new_variables_average_over_a_share_of_their_own_training(
    image_folder, tmp_path
):
    """The new block and toRGB of a fade-in take the EMA with a half-life of ema_rampup of the
    images the phase has shown (at least a step's): their random start is not kept; every other
    variable keeps ema_kimg."""
    schedule = ScheduleConfig(kimg_per_phase=4.0, batch_sizes=(8,) * 4)
    trainer = Trainer(tiny_config(tmp_path / "run", image_folder, schedule=schedule))
    phase, alpha = trainer.phases[1], 0.25
    G, G_ema = trainer.models.G, trainer.models.G_ema
    new = {v.path for v in training_step.new_in_phase(G, phase)}
    assert new == {v.path for v in G.blocks[0].weights} | {v.path for v in G.to_rgb[1].weights}
    for ema in G_ema.weights:
        ema.assign(ema.numpy() + 0.5)
    old = [v.numpy() for v in G_ema.weights]
    trainer.new_optimizers(phase)
    batch = next(iter(trainer.phase_dataset(phase.stage, 0, 1)))
    trainer.make_step(phase, 8)(batch, tf.constant(alpha, tf.float32))
    # 1,000 of the fade-in's 4,000 images shown: a half-life of 50 images
    fresh = 0.5 ** (8 / (schedule.ema_rampup * alpha * 4000))
    steady = ema_beta(schedule.ema_kimg, 8)
    trained = {v.path for v in G.stage_variables(1, True)}
    for before, ema, live in zip(old, G_ema.weights, G.weights, strict=True):
        if ema.path in trained:
            beta = fresh if ema.path in new else steady
            expected = beta * before + (1 - beta) * live.numpy()
            np.testing.assert_allclose(ema.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert training_step.new_in_phase(G, trainer.phases[2]) == []  # its stabilize phase


def test_a_grey_data_sets_color_run_keeps_the_datas_chroma_at_every_phase_end(tmp_path):
    """Three-channel models of grey data started and ended phases tinted (mean chroma 56 to 79
    on this run, the data's 0): every toRGB and fromRGB started with random color preferences
    that grey reals never correct, and the EMA of a fade-in's new toRGB kept its random start.
    On data without color the color ends now start alike, and every phase end is grey."""
    folder = write_grey_folder(tmp_path / "grey", 24)
    trainer = Trainer(tiny_config(tmp_path / "run", folder, image_channels="3", eval_images=8))
    kernel = trainer.models.D.from_rgb[0].kernel.numpy()
    assert (kernel == kernel[:, :, :1]).all()  # grey data: the color ends start alike
    trainer.train()
    records = checkpoints.read_log(tmp_path / "run" / run_folder.METRICS_JSONL)
    assert len(records) == 3
    for record in records:
        assert record["chroma_data"] < 0.01
        assert record["chroma"] < 1.0, record
    assert len(tensorboard_scalars(tmp_path / "run" / "tb", "eval/chroma")) == 3


def test_ema_half_life_counts_every_critic_batch(image_folder, tmp_path):
    schedule = ScheduleConfig(kimg_per_phase=0.048, batch_sizes=(8,) * 4, n_critic=3)
    trainer = Trainer(
        tiny_config(tmp_path / "run", image_folder, max_res=(3, 5), schedule=schedule)
    )
    for ema in trainer.models.G_ema.weights:
        ema.assign(ema.numpy() + 0.5)
    before = trainer.models.G_ema.stem.dense.bias.numpy()
    _one_step(trainer, 0)
    beta = ema_beta(schedule.ema_kimg, 8 * 3)  # 24 images a step, not 8
    live = trainer.models.G.stem.dense.bias.numpy()
    expected = beta * before + (1 - beta) * live
    np.testing.assert_allclose(trainer.models.G_ema.stem.dense.bias.numpy(), expected, rtol=1e-6)


def test_the_penalty_trains_the_critic():
    """The gradient penalty's own gradient reaches D's weights (a stop_gradient would cut it)."""
    from config import LossConfig
    from progan.discriminator import Discriminator
    from progan.losses import critic_loss, gradient_norms

    D = Discriminator(TINY, 2)
    rng = np.random.default_rng(1)
    reals, fakes = (tf.constant(rng.standard_normal((4, 6, 10, 3)), tf.float32) for _ in "ab")
    mix = tf.constant(rng.random((4, 1, 1, 1)), tf.float32)
    zeros = tf.zeros((4, 1))
    with tf.GradientTape() as tape:
        norms = gradient_norms(lambda x: D(x, stage=1), reals, fakes, mix)
        penalty = tf.reduce_mean(critic_loss(zeros, zeros, norms, LossConfig(drift=0.0))["loss"])
    kernels = [v for v in D.stage_variables(1, False) if v.path.endswith("kernel")]
    grads = tape.gradient(penalty, kernels)  # biases do not move ∇ₓD; every kernel does
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)


def test_adam_restarts_at_every_phase_and_keeps_its_state_within_one(image_folder, tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run", image_folder))
    assert trainer._run_phase(trainer.phases[0])
    steps = 48 // 8
    assert (
        int(trainer.models.d_opt.iterations.numpy())
        == int(trainer.models.g_opt.iterations.numpy())
        == steps
    )
    moments = [
        v for v in trainer.models.d_opt.variables if "momentum" in v.path or "velocity" in v.path
    ]
    assert any(float(tf.reduce_sum(tf.abs(v))) > 0 for v in moments)
    old = trainer.models.d_opt
    trainer._end_phase(0)
    assert trainer.models.d_opt is not old and int(trainer.models.d_opt.iterations.numpy()) == 0
    fresh = [
        v for v in trainer.models.d_opt.variables if "momentum" in v.path or "velocity" in v.path
    ]
    assert fresh and all(float(tf.reduce_sum(tf.abs(v))) == 0 for v in fresh)


# Several workers decide together ------------------------------------------------------------------


def test_a_worker_that_cannot_start_stops_every_worker_with_a_line_each(image_folder, tmp_path):
    """Worker 1's data folder is missing: it says so, and worker 0 does not wait for it in an
    all-reduce but stops too, naming the worker to look at."""
    run = tmp_path / "run"
    missing = tmp_path / "not-mounted"
    commands = [
        train_command(image_folder, run, tmp_path, "0.064", "--strategy", "multiworker"),
        train_command(missing, run, tmp_path, "0.064", "--strategy", "multiworker"),
    ]
    workers = _workers(commands)
    errors = _outputs(workers, timeout=120)
    assert [proc.returncode for proc in workers] == [2, 2], errors
    assert str(missing) in errors[1].strip().splitlines()[-1]
    last = errors[0].strip().splitlines()[-1]
    assert "worker 1 could not start" in last and "Traceback" not in errors[0], errors[0]
    assert not checkpoints.steps(run / "checkpoints")


@contextlib.contextmanager
def _two_workers_saving(image_folder: Path, run: Path, tmp_path: Path):
    """Two workers training a long run, once the first checkpoint after the start is saved."""
    command = train_command(image_folder, run, tmp_path, "100", "--strategy", "multiworker")
    workers = _workers([*command, "--save-every-min", "0.005", "--eval-images", "0"])
    try:
        _wait_for_checkpoint_after(run / "checkpoints", 0, workers[0])
        yield workers
    finally:
        for proc in workers:
            proc.kill()


def test_ctrl_c_on_one_worker_stops_both_at_the_same_saved_step(image_folder, tmp_path):
    run = tmp_path / "run"
    with _two_workers_saving(image_folder, run, tmp_path) as workers:
        workers[1].send_signal(signal.SIGINT)  # one worker only, as a Ctrl-C in one terminal
        errors = [proc.communicate(timeout=120)[1] for proc in workers]
    assert [proc.returncode for proc in workers] == [130, 130], errors
    assert _latest_step(run / "checkpoints") == _latest_step(run / "workers" / "1" / "checkpoints")


def test_a_worker_killed_mid_run_is_named_to_the_one_left(image_folder, tmp_path):
    run = tmp_path / "run"
    with _two_workers_saving(image_folder, run, tmp_path) as workers:
        workers[1].kill()
        error = workers[0].communicate(timeout=120)[1]
    assert workers[0].returncode == 2 and "Traceback" not in error, error
    assert error.strip().splitlines()[-1] == (
        f"error: worker 1 of this run stopped answering; once it is back, start every worker "
        f"again with: python train.py --out {run} --resume"
    )


def test_two_workers_killed_mid_phase_resume_together_through_a_fade_in(image_folder, tmp_path):
    run = tmp_path / "run"
    command = [
        sys.executable, "train.py", "--data", str(image_folder), "--out", str(run),
        "--data-root", str(tmp_path / "data"), "--max-res", "10x6", "--kimg-per-phase", "0.4",
        "--batch-sizes", "8,8", "--strategy", "multiworker", "--eval-images", "0",
        "--save-every-min", "0.005",
    ]  # fmt: skip
    workers = _workers(command)
    try:
        _wait_for_checkpoint_after(run / "checkpoints", 100, workers[0], timeout=180)
        for proc in workers:
            proc.kill()  # kill -9, both, mid-phase and perhaps mid-save
            proc.wait(timeout=30)
    finally:
        for proc in workers:
            proc.kill()
    workers = _workers([sys.executable, "train.py", "--out", str(run), "--resume"])
    errors = _outputs(workers, timeout=300)
    assert [proc.returncode for proc in workers] == [0, 0], errors
    starts = [re.search(r"resumed .* at .*ckpt-(\d+)", err).group(1) for err in errors]
    assert starts[0] == starts[1], starts
    chief, other = run / "checkpoints", run / "workers" / "1" / "checkpoints"
    assert _latest_step(chief) == _latest_step(other) == 3 * 400
    a, b = (checkpoints.load(checkpoints.path_for(folder, 1200)) for folder in (chief, other))
    names = [name for name in a if name.startswith("generator")]
    assert names
    for name in names:
        np.testing.assert_array_equal(a[name], b[name])
    phases = [json.loads(line)["name"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert phases == ["stabilize", "fade-in", "stabilize"]


# Recipe options ----------------------------------------------------------------------------------


class RecordsR1(Trainer):
    """Notes, step by step, whether the critic took the R1 penalty."""

    def make_step(self, phase, batch_size, regularize=True, steps=0):
        step = super().make_step(phase, batch_size, regularize, steps)
        self.__dict__.setdefault("r1_steps", [])

        def recorded(batch, alpha):
            metrics = step(batch, alpha)
            self.r1_steps.append("r1" in metrics)
            return metrics

        return recorded


def test_logistic_r1_with_diffaugment_regularises_lazily_and_resumes_exactly(
    image_folder, tmp_path
):
    from config import LossConfig, OptimizerConfig

    def config(name, **changes):
        return tiny_config(
            tmp_path / name,
            image_folder,
            loss=LossConfig(kind="logistic-r1", r1_every=2),
            augment=("translation", "cutout"),
            **changes,
        )

    straight = RecordsR1(config("a"))
    c = 2 / 3  # k/(k+1) for k = 2
    assert float(straight.models.d_opt.learning_rate) == pytest.approx(1e-3 * c)
    assert float(straight.models.d_opt.beta_2) == pytest.approx(0.99**c)
    assert float(straight.models.g_opt.learning_rate) == pytest.approx(1e-3)
    straight.train()
    assert straight.r1_steps == [True, False] * 9  # 3 phases of 6 steps, R1 on every second
    assert {"real_score", "fake_score"} <= set(straight.last_losses)
    stopped = StopMidFade(config("b"))
    with pytest.raises(KeyboardInterrupt):
        stopped.train()
    # Adam saves its learning rate with its moments: a resume's --lr overrides it, the rest loads
    slower = Trainer(config("b", resume=True, optimizer=OptimizerConfig(learning_rate=3e-4)))
    assert float(slower.models.d_opt.learning_rate) == pytest.approx(3e-4 * c)
    assert float(slower.models.g_opt.learning_rate) == pytest.approx(3e-4)
    assert int(slower.models.d_opt.iterations.numpy()) > 0
    resumed = Trainer(config("b", resume=True))
    assert float(resumed.models.d_opt.learning_rate) == pytest.approx(1e-3 * c)
    resumed.train()
    assert_same_weights(
        (straight.models.G_ema, resumed.models.G_ema), (straight.models.D, resumed.models.D)
    )
    saved = json.loads((tmp_path / "b" / "config.json").read_text())
    assert saved["loss"]["kind"] == "logistic-r1" and saved["augment"] == ["translation", "cutout"]


def test_recipe_flags_reach_the_config(tmp_path):
    argv = ["--out", str(tmp_path / "r"), "--loss", "logistic-r1", "--r1-gamma", "0.5"]
    argv += ["--augment", "translation,cutout", "--labels", "--label-entry", "rgb"]
    argv += ["--ema-kimg", "10"]
    cfg = train_cli.config_from_args(train_cli.build_parser().parse_args(argv), argv)
    assert cfg.loss.kind == "logistic-r1" and cfg.loss.r1_gamma == 0.5
    assert cfg.schedule.ema_kimg == 10
    assert cfg.augment == ("translation", "cutout")
    assert cfg.labels and cfg.network.label_entry == "rgb"
    for bad, message in [
        (["--augment", "color"], "give translation, cutout"),
        (["--label-entry", "rgb"], "add --labels"),
    ]:
        with pytest.raises(ProganError, match=message):
            train_cli.config_from_args(train_cli.build_parser().parse_args(bad), bad)


def test_a_resumed_run_takes_a_new_ema_half_life_and_keeps_the_rest():
    run = REPO / "tests" / "fixtures" / "run_before_labels"
    saved = train_cli.load_config(run)
    argv = ["--out", str(run), "--resume", "--ema-kimg", "20"]
    cfg = train_cli.config_from_args(train_cli.build_parser().parse_args(argv), argv)
    assert cfg.schedule == dataclasses.replace(saved.schedule, ema_kimg=20)
    assert ema_beta(cfg.schedule.ema_kimg, 16) > ema_beta(saved.schedule.ema_kimg, 16)


def test_final_kimg_trains_on_at_the_top_stage_with_adam_carried_on(image_folder, tmp_path):
    schedule = ScheduleConfig(kimg_per_phase=0.048, batch_sizes=(8,) * 4, final_kimg=0.08)
    trainer = Trainer(tiny_config(tmp_path / "run", image_folder, schedule=schedule))
    trainer.train()
    assert trainer.progress.images_shown == 144 + 80
    # the 10x6 stabilize phase's Adam went on through both final chunks: 6 + 6 + 4 steps
    assert int(trainer.models.d_opt.iterations.numpy()) == 16
    records = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["name"] for r in records][-2:] == ["final", "final"]
    assert list((tmp_path / "run" / "samples").glob("*-10x6-final.png"))
    # growing past a run that trained on: --from, which starts at the next stage's fade-in
    argv = ["--out", str(tmp_path / "run"), "--resume", "--max-res", "20x12"]
    with pytest.raises(ProganError, match="grow it with --from"):
        train_cli.config_from_args(train_cli.build_parser().parse_args(argv), argv)
    grown = Trainer(
        tiny_config(
            tmp_path / "grown",
            image_folder,
            schedule=schedule,
            max_res=(12, 20),
            start_from=str(tmp_path / "run" / "export"),
        )
    )
    assert grown.progress.phase == 3 and grown.phases[3].name == "fade-in"
    # training on from it at its own top stage needs a --final-kimg past what it trained
    argv = ["--from", str(tmp_path / "run" / "export"), "--out", str(tmp_path / "on")]
    argv += ["--data", str(image_folder), "--data-root", str(tmp_path / "data")]
    for final, phases in [("0.08", None), ("0.1", 6)]:
        given = [*argv, "--final-kimg", final]
        cfg = train_cli.config_from_args(train_cli.build_parser().parse_args(given), given)
        if phases is None:
            with pytest.raises(ProganError, match=r"5 phases into .* past the 5 .*had 0.08\)"):
                Trainer(cfg)
        else:
            assert len(Trainer(cfg).phases) == phases


class KeepsLastChunkStart(Trainer):
    """Keeps G's weights as the last final chunk begins, to see how far that chunk moves them."""

    def _end_phase(self, index):
        super()._end_phase(index)
        if self.progress.phase == len(self.phases) - 1:
            self.last_start = [w.numpy() for w in self.models.G.weights]

    def last_chunk_move(self) -> float:
        pairs = zip(self.models.G.weights, self.last_start, strict=True)
        return float(sum(np.abs(w.numpy() - start).sum() for w, start in pairs)) / sum(
            start.size for start in self.last_start
        )


class StopInSecondFinalChunk(Trainer):
    """Asks to stop like Ctrl-C does, halfway through the second final chunk (phase 4)."""

    def _log_scalars(self, phase, values, rate):
        super()._log_scalars(phase, values, rate)
        if self.progress.phase == 4 and self.progress.phase_images >= 24:
            self.stop_signal = 2


def test_final_lr_steps_adam_down_over_the_final_chunks_and_resumes_on_its_rate(
    image_folder, tmp_path
):
    schedule = ScheduleConfig(
        kimg_per_phase=0.048, batch_sizes=(8,) * 4, final_kimg=0.144, final_lr=1e-4
    )
    stepped = KeepsLastChunkStart(tiny_config(tmp_path / "a", image_folder, schedule=schedule))
    # stabilize, fade-in, stabilize at 1e-3, then three chunks stepping down by 10^(-1/3)
    expected = [1e-3] * 3 + [1e-3 * 0.1 ** (k / 3) for k in (1, 2, 3)]
    rates = [training_step.learning_rate(stepped.cfg, stepped.phases, i) for i in range(6)]
    assert rates == pytest.approx(expected)
    stepped.train()
    assert float(stepped.models.g_opt.learning_rate) == pytest.approx(1e-4)
    # TensorBoard plots the phase's rate: the three plateaus' 1e-3, then the ramp
    logged = tensorboard_scalars(tmp_path / "a" / "tb", "progress/learning_rate")
    assert logged == sorted(logged, reverse=True)
    assert sorted(set(logged)) == pytest.approx(sorted(set(expected)), rel=1e-6)
    assert float(stepped.models.d_opt.learning_rate) == pytest.approx(1e-4)
    steady_schedule = dataclasses.replace(schedule, final_lr=None)
    steady = KeepsLastChunkStart(
        tiny_config(tmp_path / "b", image_folder, schedule=steady_schedule)
    )
    steady.train()
    # the rate reaches the compiled step: Adam moves G about lr per step, here 10x less
    assert stepped.last_chunk_move() < 0.4 * steady.last_chunk_move()
    stopped = StopInSecondFinalChunk(tiny_config(tmp_path / "c", image_folder, schedule=schedule))
    with pytest.raises(KeyboardInterrupt):
        stopped.train()
    resumed = Trainer(tiny_config(tmp_path / "c", image_folder, schedule=schedule, resume=True))
    assert resumed.progress.phase == 4
    assert float(resumed.models.g_opt.learning_rate) == pytest.approx(expected[4])
    resumed.train()
    assert_same_weights(
        (stepped.models.G_ema, resumed.models.G_ema), (stepped.models.D, resumed.models.D)
    )
    # --from an export into more final chunks: the ramp spans them all, counted from the
    # stabilize phase's end, so the fourth of five runs at 1e-3 * 0.1^(4/5)
    longer = dataclasses.replace(schedule, final_kimg=0.24)
    grown = Trainer(
        tiny_config(
            tmp_path / "d", image_folder, schedule=longer, start_from=str(tmp_path / "a" / "export")
        )
    )
    assert grown.progress.phase == 6
    assert float(grown.models.g_opt.learning_rate) == pytest.approx(1e-3 * 0.1 ** (4 / 5))
    argv = ["--out", str(tmp_path / "e"), "--final-lr", "1e-4"]
    with pytest.raises(ProganError, match="--final-lr needs --final-kimg"):
        train_cli.config_from_args(train_cli.build_parser().parse_args(argv), argv)
    argv += ["--final-kimg", "30"]
    assert train_cli.config_from_args(
        train_cli.build_parser().parse_args(argv), argv
    ).schedule.final_lr


def test_channels_flag_widens_the_first_stages_of_a_new_run(tmp_path):
    old_run = REPO / "tests" / "fixtures" / "run_before_labels"
    argv = ["--out", str(tmp_path / "r"), "--channels", "96,96,96,96,64"]
    cfg = train_cli.config_from_args(train_cli.build_parser().parse_args(argv), argv)
    assert cfg.network.channels[:6] == (96, 96, 96, 96, 64, 16)
    for bad, message in [
        (["--channels", "64,x"], "--channels '64,x' must be comma-separated integers"),
        (["--batch-sizes", "0"], "--batch-sizes needs positive integers"),
        (["--out", str(old_run), "--resume", "--channels", "64"], "drop it with --resume"),
    ]:
        with pytest.raises(ProganError, match=message):
            train_cli.config_from_args(train_cli.build_parser().parse_args(bad), bad)


def test_color_curriculum_grows_the_colors_of_the_reals_over_the_run(image_folder, tmp_path):
    trainer = Trainer(
        tiny_config(tmp_path / "run", image_folder, color_curriculum=(2, 5), flip=False)
    )  # 3 phases of 48 images: K=2 for images 0-47, K=5 for 48-95, full color from 96

    def colors_per_image(stage: int, start: int) -> list[int]:
        batch = next(iter(trainer.phase_dataset(stage, start, 1)))
        reals = batch["reals"].numpy()[:, 0]
        return [len(np.unique(image.reshape(-1, 3), axis=0)) for image in reals]

    assert max(colors_per_image(0, 0)) <= 2
    assert max(colors_per_image(1, 48)) <= 5 < max(colors_per_image(1, 96))
    folder = trainer.cache.folder
    assert (folder / "quantized-k2-s0" / "5x3.npy").is_file()
    assert (folder / "quantized-k5-s0" / "10x6.npy").is_file()
    assert not (folder / "quantized-k2-s0" / "10x6.npy").exists()  # K=2 never reaches 10x6


def test_a_grey_folder_trains_a_grey_model_that_resumes_exactly_and_exports(tmp_path, caplog):
    folder = write_grey_folder(tmp_path / "grey", 24)
    with caplog.at_level(logging.INFO, logger="progan.run_checks"):
        straight = Trainer(tiny_config(tmp_path / "a", folder))
    assert "training grey (1-channel) images" in caplog.text
    assert straight.net.image_channels == 1
    assert straight.models.G.to_rgb[0].kernel.shape[-1] == 1
    assert straight.models.D.from_rgb[0].kernel.shape[-2] == 1
    straight.train()
    stopped = StopMidFade(tiny_config(tmp_path / "b", folder))
    with pytest.raises(KeyboardInterrupt):
        stopped.train()
    # as train.py --resume builds it: the run's config.json, which says 1 channel
    resumed = Trainer(dataclasses.replace(train_cli.load_config(tmp_path / "b"), resume=True))
    assert resumed.net.image_channels == 1 and resumed.progress.images_shown == 72
    resumed.train()
    assert_same_weights(
        (straight.models.G_ema, resumed.models.G_ema), (straight.models.D, resumed.models.D)
    )
    g = progan.load_generator(tmp_path / "b" / "export")
    assert g.channels == 1 and g.metadata["network"]["image_channels"] == 1
    images = g.render(progan.seed_latents([0, 1], g.latent_dim), "10x6")
    assert images.shape == (2, 6, 10, 1)
    with Image.open(next((tmp_path / "b" / "samples").glob("*stabilize.png"))) as grid:
        assert grid.mode == "L"


def test_image_channels_3_trains_grey_data_in_color_and_1_refuses_a_color_curriculum(
    tmp_path, capsys
):
    folder = write_grey_folder(tmp_path / "grey", 24)
    colored = Trainer(tiny_config(tmp_path / "a", folder, image_channels="3", max_res=(3, 5)))
    assert colored.net.image_channels == 3
    batch = next(iter(colored.phase_dataset(0, 0, 1)))
    assert batch["reals"].shape[-1] == 3
    reals = np.asarray(batch["reals"])
    assert (reals[..., 0] == reals[..., 2]).all()  # grey data, shown in three equal channels
    colored.train()
    with pytest.raises(ProganError, match="--color-curriculum grows colors; a 1-channel run"):
        Trainer(tiny_config(tmp_path / "b", folder, color_curriculum=(2, 4)))
    with pytest.raises(SystemExit) as exit_info:
        run(train_cli.main, ["--out", str(tmp_path / "a"), "--resume", "--image-channels", "1"])
    assert exit_info.value.code != 0
    assert "--image-channels shapes a new network" in capsys.readouterr().err
