"""CycleGAN: the pool, the schedule, the networks' shapes and receptive field, the unpaired
domains, exact resume, the color curriculum, the translator, its measures and commands."""

import json
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from training_helpers import SMALL_LAUNDRY, make_small_laundry, tiny_cyclegan

from progan import backend, checkpoints
from progan.cyclegan.domains import load_photo
from progan.cyclegan.evaluate import loss_curve, scores
from progan.cyclegan.networks import patch_critic, resnet_generator
from progan.cyclegan.trainer import (
    CycleGANTrainer,
    ImagePool,
    LinearDecay,
    curriculum_k,
)
from progan.cyclegan.translator import load_translator
from progan.errors import ProganError

REPO = Path(__file__).resolve().parent.parent


def test_the_pool_returns_the_first_fakes_then_swaps_about_half_for_older_ones():
    pool = ImagePool(3, (1,))
    rng = np.random.default_rng(0)
    first = pool.query(np.arange(3, dtype=np.float32)[:, None], rng)
    np.testing.assert_array_equal(first[:, 0], [0, 1, 2])  # filling: shown as they are
    seen, swapped = {0.0, 1.0, 2.0}, 0
    for value in range(3, 1003):
        out = float(pool.query(np.array([[value]], np.float32), rng)[0, 0])
        assert out == value or out in seen  # the new fake, or one stored earlier
        swapped += out != value
        seen.add(float(value))
        assert pool.count == 3 and (value in pool.images[:, 0]) == (out != value)
    assert 430 < swapped < 570


def test_linear_decay_holds_then_falls_to_zero():
    schedule = LinearDecay(2e-4, start=100, end=300)
    rates = [float(np.asarray(schedule(step))) for step in (0, 100, 200, 300, 400)]
    np.testing.assert_allclose(rates, [2e-4, 2e-4, 1e-4, 0.0, 0.0], atol=1e-12)


def test_the_generator_keeps_the_size_and_the_critic_sees_70_by_70_patches():
    keras.utils.set_random_seed(0)
    g = resnet_generator(8, 2, "g")
    photo = np.random.default_rng(0).uniform(-1, 1, (1, 96, 160, 3)).astype(np.float32)
    out = np.asarray(g(photo))
    assert out.shape == photo.shape and np.abs(out).max() < 1
    critic = patch_critic(8, 3, "d")
    x = np.random.default_rng(1).uniform(-1, 1, (1, 160, 160, 3)).astype(np.float32)
    assert tuple(critic(x).shape) == (1, 20, 20, 1)

    def one_patch(images):
        score = critic(images)[0, 10, 10, 0]
        return score, score

    # Instance norm's statistics reach every pixel a little; the patch itself is 70×70 (its
    # centre pixel 80, 80), not the 34×34 that one stride-2 layer fewer would see.
    _, grads = backend.input_gradient(one_patch, backend_tensor(x))
    magnitude = np.abs(np.asarray(grads)[0]).sum(-1)
    window = np.zeros(magnitude.shape, bool)
    window[57:127, 57:127] = True
    assert magnitude[window].mean() > 10 * magnitude[~window].mean()
    assert magnitude[window].sum() > 0.75 * magnitude.sum()
    assert magnitude[75:109, 75:109].sum() < 0.5 * magnitude.sum()


def backend_tensor(x):
    from keras import ops

    return ops.convert_to_tensor(x)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return make_small_laundry(tmp_path_factory.mktemp("cyclegan"))


def test_the_domains_come_from_different_photos_and_the_truth_is_the_held_out_recolor(
    data_root, tmp_path
):
    trainer = CycleGANTrainer(tiny_cyclegan(tmp_path / "run", data_root), SMALL_LAUNDRY)
    d = trainer.domains
    photos = data_root / "laundry" / "images"
    red = data_root / "laundry-recolored" / "images" / "red"
    np.testing.assert_array_equal(d.train_a[0], load_photo(photos / "00000.jpg", (48, 80)))
    np.testing.assert_array_equal(d.train_b[0], load_photo(red / "00004.jpg", (48, 80)))
    np.testing.assert_array_equal(d.test_a[1], load_photo(photos / "00009.jpg", (48, 80)))
    np.testing.assert_array_equal(d.test_truth[1], load_photo(red / "00009.jpg", (48, 80)))
    assert d.train_a.shape == (4, 48, 80, 3) and d.test_belt.shape == (2, 48, 80)
    assert 0.2 < d.test_belt.mean() < 0.98  # belt and items both present
    too_many = tiny_cyclegan(tmp_path / "big", data_root, domain_images=5, test_images=1)
    with pytest.raises(ProganError, match="need 11"):
        CycleGANTrainer(too_many, SMALL_LAUNDRY)


def test_the_curriculum_quantizes_both_domains_then_goes_to_full_color(data_root, tmp_path):
    cfg = tiny_cyclegan(tmp_path / "run", data_root, curriculum=(2, 3), curriculum_iterations=2)
    assert [curriculum_k(cfg, i) for i in range(6)] == [2, 2, 3, 3, None, None]
    trainer = CycleGANTrainer(cfg, SMALL_LAUNDRY)
    for iteration, most in ((0, 2), (2, 3)):
        for images in trainer.batch_at(iteration).values():
            colors = np.unique(images.reshape(-1, 3), axis=0)
            assert len(colors) <= most
    assert len(np.unique(trainer.batch_at(4)["a"].reshape(-1, 3), axis=0)) > 20


class StopAfterThree(CycleGANTrainer):
    def train_iteration(self):
        out = super().train_iteration()
        if self.iteration == 3:
            self.stop_signal = 2
        return out


def test_a_stopped_run_resumes_exactly_pool_included(data_root, tmp_path):
    straight = CycleGANTrainer(tiny_cyclegan(tmp_path / "a", data_root), SMALL_LAUNDRY)
    straight.train()
    stopped = StopAfterThree(tiny_cyclegan(tmp_path / "b", data_root), SMALL_LAUNDRY)
    with pytest.raises(KeyboardInterrupt):
        stopped.train()
    assert checkpoints.steps(tmp_path / "b" / "checkpoints") == [3]
    log = tmp_path / "b" / "metrics.jsonl"
    with open(log, "a") as handle:  # logged after the checkpoint, then cut off by a crash
        handle.write('{"iteration": 5, "g_loss": 9.0}\n{"iteration": 6, "g_lo')
    resumed = CycleGANTrainer(tiny_cyclegan(tmp_path / "b", data_root, resume=True), SMALL_LAUNDRY)
    assert resumed.iteration == 3 and resumed.pools["a"].count == 2
    resumed.train()
    for a, b in zip(straight._weights(), resumed._weights(), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
    curve = loss_curve(tmp_path / "a", every=2)
    assert len(curve) == 3 and all(np.isfinite(curve))
    # the resumed log is the straight run's: every line whole, each iteration once
    # (the record at 4 averages iterations 3-4 straight, only 4 resumed)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["iteration"] for r in lines] == [2, 4, 6]
    resumed_curve = loss_curve(tmp_path / "b", every=2)
    np.testing.assert_allclose(resumed_curve[::2], curve[::2], rtol=1e-3)

    translator = load_translator(tmp_path / "a")
    photo = np.asarray(Image.open(data_root / "laundry" / "images" / "00008.jpg"))  # 160x90
    out = translator.translate([photo])
    assert out.shape == (1, 48, 80, 3) and out.dtype == np.uint8
    expected = np.asarray(straight.g_ab(translator.prepare(photo)[None] / 127.5 - 1.0))
    np.testing.assert_allclose(out[0], np.round((expected[0] + 1) * 127.5), atol=1)
    info = json.loads((tmp_path / "a" / "export" / "translator.json").read_text())
    assert info["to"] == "red" and info["iterations"] == 6
    assert (tmp_path / "a" / "export" / "samples.png").is_file()


def test_scores_of_the_photo_itself_and_of_the_truth():
    rng = np.random.default_rng(0)
    photos = rng.integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    truth = photos.copy()
    belt = np.zeros((2, 16, 16), bool)
    belt[:, :8] = True
    truth[:, 8:] = [200, 30, 30]  # the items turn red, the belt stays
    same = scores(photos, truth, truth, belt)
    assert same["lab_l1"] == 0 and same["ssim"] == pytest.approx(1.0)
    assert same["belt_changed"] == 0 and same["item_changed"] > 0.9
    untouched = scores(photos, photos, truth, belt)
    assert untouched["lab_l1"] > 10 and untouched["item_changed"] == 0
    everything = scores(photos, np.full_like(photos, 128), truth, belt)
    assert everything["belt_changed"] > 0.9


def test_commands_train_translate_and_say_what_is_wrong_in_one_line(data_root, tmp_path):
    def cli(*args):
        return subprocess.run(
            [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300
        )

    bad = cli("-m", "progan.cyclegan", "train", "--out", str(tmp_path / "x"), "--curriculum", "z")
    assert bad.returncode == 2 and "--curriculum 'z'" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = cli("-m", "progan", "translate", "--model", str(tmp_path), "--images", ".",
                  "--out", "o")  # fmt: skip
    assert missing.returncode == 2 and "is not a translator" in missing.stderr
    run = tmp_path / "run"
    CycleGANTrainer(tiny_cyclegan(run, data_root, iterations=2), SMALL_LAUNDRY).train()
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(data_root / "laundry" / "images" / "00009.jpg").save(photos / "belt.jpg")
    (photos / "broken.png").write_bytes(b"not a png")
    done = cli("-m", "progan", "translate", "--model", str(run), "--images", str(photos),
               "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote 1 photos recolored to red" in done.stdout and "broken.png" in done.stdout
    assert Image.open(tmp_path / "out" / "belt.png").size == (80, 48)
    table = cli("-m", "progan.cyclegan", "evaluate", "--models", str(run), "--data-root",
                str(data_root), "--figure", str(tmp_path / "f.png"))  # fmt: skip
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    rows = {line.split(" | ")[0]: line for line in lines if line.startswith("|")}
    assert {"| photo as is", "| run", "| mask-based truth"} <= set(rows)
    truth = rows["| mask-based truth"].split(" | ")
    assert truth[3:5] == ["0.0", "1.000"] and float(truth[5].rstrip(" %")) < 2  # JPEG, edges
    assert 3 * 192 <= Image.open(tmp_path / "f.png").size[1] < 4 * 192  # photo, model, truth


def test_train_flags_are_checked_before_tensorflow_and_a_resume_keeps_the_runs_own(
    tmp_path, capsys
):
    import dataclasses

    from config import CycleGANConfig
    from progan.cyclegan.__main__ import build_parser, config_from_args
    from progan.errors import ProganError

    run = tmp_path / "run"

    def configured(*argv: str) -> CycleGANConfig:
        return config_from_args(build_parser().parse_args(["train", "--out", str(run), *argv]))

    for argv, message in [
        (["--iterations", "0"], "--iterations: must be a whole number from 1 to .*, got '0'"),
        (["--curriculum-iterations", "0"], "--curriculum-iterations: must be .* from 1 to"),
        (["--curriculum-iterations", "-4", "--curriculum", "a"], "from 1 to .*, got '-4'"),
        (["--filters", "0"], "--filters: must be a whole number from 1"),
        (["--blocks", "-1"], "--blocks: must be a whole number from 0"),
        (["--seed", "-1"], "--seed: must be a whole number from 0 to 4294967295"),
        (["--seed", str(2**32)], "--seed: must be a whole number from 0 to 4294967295"),
        (["--paper-sizes", "--filters", "8"], "--paper-sizes sets --filters and --blocks"),
        (["--resume"], "nothing to resume"),
    ]:
        try:
            configured(*argv)
        except ProganError as err:
            refusal = str(err)
        except SystemExit as exit_info:  # refused while parsing, in one line
            assert exit_info.code == 2
            refusal = capsys.readouterr().err
        else:
            raise AssertionError(f"{argv} was accepted")
        assert re.search(message, refusal), (argv, refusal)
    new = configured("--paper-sizes", "--color", "blue", "--iterations", "10")
    assert (new.filters, new.blocks, new.color, new.iterations) == (64, 9, "blue", 10)
    assert configured().seed == 0 and configured().curriculum == ()
    # a run folder moved here from another machine: it resumes here, with its own settings
    run.mkdir()
    moved = dataclasses.replace(new, out="/elsewhere/run", data_root="/elsewhere/data")
    (run / "config.json").write_text(json.dumps(dataclasses.asdict(moved)))
    resumed = configured("--resume")
    assert resumed.out == str(run) and resumed.resume and resumed.data_root == "/elsewhere/data"
    assert dataclasses.replace(resumed, out=moved.out, resume=False) == moved
    assert configured("--resume", "--data-root", str(tmp_path)).data_root == str(tmp_path)
    with pytest.raises(ProganError, match="has its own --iterations, --seed; drop it"):
        configured("--resume", "--iterations", "20", "--seed", "3")


def test_evaluate_reads_the_shipped_translators_own_log_and_checks_outputs_first(tmp_path):
    from progan.cyclegan.__main__ import log_folder, main
    from progan.errors import ProganError

    shipped = load_translator(None).path  # checkpoints/recolor
    assert log_folder(shipped) == shipped  # its own metrics.jsonl, not ProGAN's one folder up
    curve = loss_curve(log_folder(shipped))
    assert len(curve) >= 2 and all(np.isfinite(curve))
    run = tmp_path / "run"  # a run's log is beside its export
    assert log_folder(run / "export") == run
    for flags, message in [
        (["--figure", str(tmp_path / "f.gif")], "must end in .png"),
        (["--table", str(tmp_path / "no" / "t.md")], "its folder does not exist"),
    ]:
        with pytest.raises(ProganError, match=message):  # before any translator loads
            main(["evaluate", "--models", str(tmp_path / "none"), *flags])
