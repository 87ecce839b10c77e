"""``python -m progan`` on a randomly initialised export (and the color stub for prototypes).

Two cases run in a real process to prove the exit status and the one-line error; the rest call
``run(main, argv)`` in this process, which shares TensorFlow's start-up with the other tests.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from config import NetworkConfig
from progan import __main__ as cli
from progan import colors, latent
from progan.cli import run
from progan.errors import ProganError
from progan.export import load_generator, write_random_export
from tests.stubs import LinearColorGenerator

REPO = Path(__file__).resolve().parents[1]
NETWORK = NetworkConfig(base=(3, 5), latent_dim=16, channels=(16, 16, 16))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return write_random_export(tmp_path_factory.mktemp("cli") / "model", NETWORK, stages=3)


@pytest.fixture
def model_copy(model: Path, tmp_path: Path) -> Path:
    """A private copy for tests that add prototypes or break files."""
    return Path(shutil.copytree(model, tmp_path / "model"))


def call(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the command as ``python -m progan`` would, minus the process."""
    with pytest.raises(SystemExit) as exit_info:
        run(cli.main, argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def fails(argv: list[str], capsys) -> str:
    """The command exits 2 with exactly one line on stderr; that line is returned."""
    code, out, err = call(argv, capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def read_gif(path: Path) -> tuple[list[np.ndarray], list[int]]:
    with Image.open(path) as gif:
        frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
        delays = [f.info["duration"] for f in ImageSequence.Iterator(gif)]
    return frames, delays


def seed_images(model: Path, seeds: list[int], res: str) -> np.ndarray:
    g = load_generator(model)
    return g.render(latent.seed_latents(seeds, g.latent_dim), res)


# In a real process -------------------------------------------------------------------------------


def python_m_progan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "progan", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=300,
    )


def test_process_unknown_resolution_is_one_line_and_exit_2(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    done = python_m_progan(
        "generate", "--model", str(model), "--seed", "1", "--res", "7x7", "-o", str(out)
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    # TensorFlow may print start-up notes before; the error is one line, and the last.
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: resolution 7x7 is not in this model; available: 5x3, 10x6, 20x12"]
    assert done.stderr.splitlines()[-1] == errors[0]
    assert not out.exists()


def test_process_bad_flag_fails_before_loading_anything(tmp_path: Path) -> None:
    done = python_m_progan("interpolate", "--seeds", "1", "2", "--frames", "1")
    assert done.returncode == 2
    # Flags are checked before TensorFlow starts: nothing but the error is printed.
    assert done.stderr == (
        "error: argument --frames: must be a whole number from 2 to 120, got '1' "
        "(see python -m progan interpolate --help)\n"
    )


# generate ----------------------------------------------------------------------------------------


def test_generate_one_seed(model: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "one.png"
    argv = ["generate", "--model", str(model), "--seed", "42", "-o", str(out)]
    code, stdout, _ = call(argv, capsys)
    assert code == 0 and stdout == f"wrote {out}\n"
    # The default resolution is the largest, and the picture is the seed's, pixel for pixel.
    np.testing.assert_array_equal(read_png(out), seed_images(model, [42], "20x12")[0])


def test_generate_range_writes_a_grid(model: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "grid.png"
    code, _, _ = call(
        ["generate", "--model", str(model), "--seeds", "0-3", "--res", "10x6", "-o", str(out)],
        capsys,
    )
    assert code == 0
    grid = read_png(out)
    assert grid.shape == (2 * 6 + 2, 2 * 10 + 2, 3)
    np.testing.assert_array_equal(grid, latent.image_grid(seed_images(model, [0, 1, 2, 3], "10x6")))


def test_generate_separate_files(model: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "item.png"
    argv = ["generate", "--model", str(model), "--seeds", "5", "7,9", "--separate", "-o", str(out)]
    code, stdout, _ = call(argv, capsys)
    assert code == 0 and len(stdout.splitlines()) == 3
    images = seed_images(model, [5, 7, 9], "20x12")
    for seed, image in zip((5, 7, 9), images, strict=True):
        np.testing.assert_array_equal(read_png(tmp_path / f"item-{seed}.png"), image)


def test_generate_in_a_color_uses_the_saved_prototypes(model_copy: Path, tmp_path: Path, capsys):
    g = load_generator(model_copy)
    vectors = dict(zip(colors.CLASSES, latent.seed_latents([11, 12, 13, 14], 16), strict=True))
    prototypes = colors.Prototypes(
        res="10x6",
        n=1,
        vectors=vectors,
        counts=dict.fromkeys(colors.CLASSES, 1),
        sample_seeds=range(20),
        sampled_classes={},
        classifier={},
    )
    colors.save_prototypes(g, prototypes)
    out = tmp_path / "red.png"
    argv = ["generate", "--model", str(model_copy), "--seed", "3", "--color", "red", "-o", str(out)]
    assert call(argv, capsys)[0] == 0
    z = latent.seed_latents([3], 16)
    source = colors.source_prototype(colors.class_of_images(g.render(z, "10x6"))[0])
    shifted = z - vectors[source] + vectors["red"]
    np.testing.assert_array_equal(read_png(out), g.render(shifted, "20x12")[0])
    assert not np.array_equal(read_png(out), g.render(z, "20x12")[0])


# interpolate -------------------------------------------------------------------------------------


def test_interpolate_writes_the_gif(model: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "walk.gif"
    argv = [
        "interpolate",
        "--model",
        str(model),
        "--seeds",
        "1",
        "2",
        "--frames",
        "7",
        "--delay",
        "60",
        "-o",
        str(out),
    ]
    assert call(argv, capsys)[0] == 0
    frames, delays = read_gif(out)
    assert len(frames) == 7 and delays == [60] * 7 and frames[0].shape == (12, 20, 3)
    # One 256-color palette for all frames: the ends are the seeds' images within its error.
    ends = seed_images(model, [1, 2], "20x12").astype(int)
    for frame, end, other in ((frames[0], ends[0], ends[1]), (frames[-1], ends[1], ends[0])):
        error = np.abs(frame.astype(int) - end).mean()
        assert error < 12 and error < np.abs(frame.astype(int) - other).mean() / 3

    lerp_out = tmp_path / "lerp.gif"
    assert call([*argv[:-1], str(lerp_out), "--lerp", "--back-and-forth"], capsys)[0] == 0
    lerp_frames, _ = read_gif(lerp_out)
    assert len(lerp_frames) == 12
    for i in (0, 6):  # the same ends, each GIF through its own palette
        assert np.abs(lerp_frames[i].astype(int) - frames[i]).mean() < 12
    assert not np.array_equal(lerp_frames[3], frames[3])


# prototypes (on the stub, whose colors are known) ------------------------------------------------


def test_prototypes_command_computes_prints_and_saves(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli, "load_model", lambda path: LinearColorGenerator(path))
    argv = [
        "prototypes",
        "--model",
        str(tmp_path),
        "--n",
        "20",
        "--res",
        "10x6",
        "--success-seeds",
        "100",
    ]
    code, stdout, _ = call(argv, capsys)
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == "sampling up to 5000 seeds at 10x6 for 20 latents of each color"
    assert re.fullmatch(
        r"sampled seeds 0-\d+: red \d+, green \d+, blue \d+, white \d+, none \d+", lines[1]
    )
    assert lines[2] == "color shift success over 100 seeds (prototype, boundary):"
    found = colors.load_prototypes(LinearColorGenerator(tmp_path))
    for line, color in zip(lines[3:7], colors.CLASSES, strict=True):
        assert line.split()[:3] == [
            color,
            f"{found.success_rates[color]:.1%}",
            f"{found.boundary_success_rates[color]:.1%}",
        ]
        assert line.endswith("prototype of 20 latents")
    assert lines[-1] == f"wrote {tmp_path / 'prototypes.json'}"
    assert found.n == 20 and found.success_seeds == range(2**31, 2**31 + 100)

    # The saved prototypes now shift colors for generate.
    out = tmp_path / "green.png"
    argv = [
        "generate",
        "--model",
        str(tmp_path),
        "--seeds",
        "0-15",
        "--res",
        "10x6",
        "--color",
        "green",
        "-o",
        str(out),
    ]
    assert call(argv, capsys)[0] == 0
    images = read_png(out)
    tiles = [images[r * 8 : r * 8 + 6, c * 12 : c * 12 + 10] for r in range(4) for c in range(4)]
    expected = colors.render_seeds(LinearColorGenerator(tmp_path), range(16), "10x6", "green")
    np.testing.assert_array_equal(np.stack(tiles), expected)  # the default method, "best"
    assert colors.class_of_images(np.stack(tiles)).count("green") >= 8


# One-line errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--seed", "1", "--color", "pink"], "argument --color: invalid choice"),
        (["generate", "--seed", "4294967296"], "seed 4294967296 must be a whole number from 0 to"),
        (["generate", "--seed", "1-3"], "is not one seed; use --seeds"),
        (["generate", "--seeds", "5-2"], "runs backwards"),
        (["generate", "--seed", "1", "-o", "x.jpg"], "must end in .png"),
        (["generate"], "one of the arguments --seed --seeds is required"),
        (["interpolate", "--seeds", "1", "2", "--frames", "0"], "--frames: must be a whole num"),
        (["interpolate", "--seeds", "1", "2", "--frames", "121"], "from 2 to 120, got '121'"),
        (["interpolate", "--seeds", "1", "2", "--delay", "5"], "--delay: must be a whole number"),
        (["interpolate", "--seeds", "1", "2", "--delay", "1e3"], "from 20 to 2000, got '1e3'"),
        (["interpolate", "--seeds", "1"], "expected 2 arguments"),
        (["interpolate", "--seeds", "1", "x"], "'x' is not a number"),
        (["prototypes", "--n", "0"], "argument --n: must be a whole number from 1 to 200000"),
        (["prototypes", "--success-seeds", "3000000000"], "--success-seeds: must be a whole"),
        (["evaluate", "--data", "d", "--n", "1"], "--n: must be a whole number from 2 to"),
        (["generate", "--seed", "9" * 5000], "is not a number or a range"),
        (["prototypes", "--samples", "many"], "argument --samples: must be a whole number"),
        (["evaluate", "--data", "d", "--json", "out.txt"], "output out.txt must end in .json"),
        (["evaluate", "--data", "d", "--inception-weights", "no.h5"], "no.h5: no such file"),
        ([], "required: COMMAND"),
    ],
)
def test_bad_flags_fail_in_one_line(argv: list[str], message: str, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli, "load_model", lambda path: pytest.fail("model loaded before checks"))
    assert re.search(message, fails(argv, capsys))


def test_model_errors_fail_in_one_line(model: Path, model_copy: Path, tmp_path: Path, capsys):
    out = str(tmp_path / "x.png")
    generate = ["generate", "--seed", "1", "-o", out, "--model"]
    assert fails([*generate, str(model), "--res", "80x48"], capsys) == (
        "error: resolution 80x48 is not in this model; available: 5x3, 10x6, 20x12"
    )
    assert "python -m progan prototypes --model" in fails(
        [*generate, str(model), "--color", "red"], capsys
    )
    assert "is not a model" in fails([*generate, str(tmp_path / "nowhere")], capsys)
    conditional = write_random_export(
        tmp_path / "cond", NetworkConfig((3, 5), 16, (16, 16), classes=("red", "blue")), 2
    )
    assert "conditional: its colors are class labels (red, blue" in fails(
        ["prototypes", "--model", str(conditional)], capsys
    )
    assert not (conditional / "prototypes.json").exists()
    missing_dir = [
        "generate",
        "--model",
        str(model),
        "--seed",
        "1",
        "-o",
        str(tmp_path / "no/x.png"),
    ]
    assert fails(missing_dir, capsys).startswith(f"error: cannot write {tmp_path / 'no/x.png'}")

    (model_copy / "prototypes.json").write_text("{not json")
    assert "cannot read the model" in fails([*generate, str(model_copy)], capsys)
    (model_copy / "model.json").write_text("{}")
    assert "cannot read the model" in fails([*generate, str(model_copy)], capsys)
    assert not Path(out).exists()


def test_evaluate_prints_swd_beside_the_floor_and_writes_json(tmp_path, capsys):
    from config import NetworkConfig
    from tests.conftest import write_image_folder

    model = write_random_export(tmp_path / "m", NetworkConfig((3, 5), 16, (16, 16, 8, 8)), 4)
    data = write_image_folder(tmp_path / "imgs", 24, size=(80, 48))
    out = tmp_path / "metrics.json"
    assert (
        cli.main(
            [
                "evaluate",
                "--model",
                str(model),
                "--data",
                str(data),
                "--n",
                "8",
                "--data-root",
                str(tmp_path / "root"),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "| SWD ×1e3 at 40x24 |" in printed and "MS-SSIM" in printed
    result = json.loads(out.read_text())
    assert result["res"] == "40x24" and result["n"] == 8
    assert result["swd"] > result["swd_floor"]  # random weights are far from the data
    assert "no color figures: an unconditional model needs prototypes first" in printed
    assert "(seeds 0-7)" in printed and result["first_seed"] == 0
    argv = ["evaluate", "--model", str(model), "--data", str(data), "--n", "8"]
    argv += ["--data-root", str(tmp_path / "root")]
    held_out = tmp_path / "held_out.json"
    assert cli.main([*argv, "--first-seed", "8", "--json", str(held_out)]) == 0
    assert "(seeds 8-15)" in capsys.readouterr().out
    other = json.loads(held_out.read_text())
    # Other fakes against the same reals: the floor stays, the fakes' distance moves.
    assert other["first_seed"] == 8 and other["swd_floor"] == result["swd_floor"]
    assert other["swd"] != result["swd"]
    too_late = fails([*argv, "--first-seed", str(2**32 - 4)], capsys)
    assert "runs past the last seed 4294967295; start at most at 4294967288" in too_late
    assert "seed '-1' is not a number" in fails([*argv, "--first-seed", "-1"], capsys)
    code, _, stderr = call([*argv, "--inception-weights", str(tmp_path / "no.h5")], capsys)
    assert code == 2 and "--inception-weights" in stderr and "no such file" in stderr


def test_evaluate_keeps_the_color_figures_beside_the_model_for_the_studio(tmp_path, capsys):
    """The studio's color list shows a conditional model's accuracy from what evaluate measured."""
    network = NetworkConfig(
        (3, 5), 16, (16, 16), classes=("blue", "green", "original", "red", "white")
    )
    model = write_random_export(tmp_path / "cond", network, 2)
    assert colors.read_color_figures(model) is None
    cli.color_figures(load_generator(model), "5x3", "best")  # below the top: not the studio's
    assert "kept" in capsys.readouterr().out and colors.read_color_figures(model) is None
    figures = cli.color_figures(load_generator(model), "10x6", "best")
    assert f"wrote {model / 'colors.json'}" in capsys.readouterr().out
    assert figures["color_method"] == "label" and figures["res"] == "10x6"
    assert colors.read_color_figures(model) == json.loads(json.dumps(figures))


def test_export_command_writes_a_float16_copy(tmp_path, capsys):
    from config import NetworkConfig
    from progan.export import TRAINING_STATE

    model = write_random_export(tmp_path / "m", NetworkConfig((3, 5), 16, (16, 16, 8)), 3)
    state = {"generator/stem_dense/kernel": np.linspace(0, 1, 6, dtype=np.float32)}
    np.savez(model / TRAINING_STATE, **state)  # as a trainer's phase-end export has it
    argv = ["export", "--model", str(model), "--out", str(tmp_path / "ship"), "--float16"]
    assert cli.main([*argv, "--name", "laundry-80x48"]) == 0
    shipped = load_generator(tmp_path / "ship")
    assert shipped.metadata["weights_dtype"] == "float16"
    assert shipped.metadata["name"] == "laundry-80x48"
    with np.load(tmp_path / "ship" / TRAINING_STATE) as copied:  # travels along, as float16
        assert copied["generator/stem_dense/kernel"].dtype == np.float16
        np.testing.assert_allclose(
            copied["generator/stem_dense/kernel"], state["generator/stem_dense/kernel"], atol=1e-3
        )
    assert shipped.metadata["dataset"] == "random" and shipped.resolutions[-1] == "20x12"
    z = latent.seed_latents([1, 2], 16)
    diff = shipped.render(z, "20x12").astype(int) - load_generator(model).render(z, "20x12")
    assert np.abs(diff).max() <= 3


def test_export_replaces_only_an_older_export_and_keeps_what_was_measured_on_it(tmp_path):
    from progan.export import COLORS_JSON, PROTOTYPES_JSON

    model = write_random_export(tmp_path / "m", NetworkConfig((3, 5), 16, (16, 16)), 2)
    for measured in (COLORS_JSON, PROTOTYPES_JSON):
        (model / measured).write_text('{"measured": true}')
    argv = ["export", "--model", str(model), "--out"]
    assert cli.main([*argv, str(tmp_path / "copy")]) == 0  # same dtype: the figures hold
    for measured in (COLORS_JSON, PROTOTYPES_JSON):
        assert (tmp_path / "copy" / measured).read_text() == '{"measured": true}'
    assert cli.main([*argv, str(tmp_path / "copy"), "--float16"]) == 0  # an export: replaced
    assert not (tmp_path / "copy" / COLORS_JSON).exists()  # measured on other weights
    models = tmp_path / "models"  # a folder of models, like checkpoints/
    (models / "keep").mkdir(parents=True)
    for out, message in [
        (models, "holds other files and no model.json"),
        (tmp_path, "holds other files and no model.json"),
        (model, "is the model being exported"),
    ]:
        with pytest.raises(ProganError, match=message):
            cli.main([*argv, str(out)])
    assert (models / "keep").is_dir() and (model / COLORS_JSON).is_file()
    (tmp_path / "empty").mkdir()  # made for it: an empty folder is taken
    assert cli.main([*argv, str(tmp_path / "empty")]) == 0


def test_a_cpu_only_start_prints_no_cuda_lines_but_keeps_real_errors(tmp_path):
    from progan.quiet import has_nvidia_driver, kept_lines

    captured = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1.0 1 cudart_stub.cc:31] Could not find cuda drivers on your machine\n"
        "E0000 00:00:2.0 1 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
        "E0000 00:00:3.0 1 some_kernel.cc:9] a real error\n"
    )
    assert kept_lines(captured) == ["E0000 00:00:3.0 1 some_kernel.cc:9] a real error"]
    assert not has_nvidia_driver()  # this test machine has no GPU, as CI's has none
    model = write_random_export(tmp_path / "m", NetworkConfig((3, 5), 8, (8, 8)), 2)
    proc = subprocess.run(
        [sys.executable, "-m", "progan", "generate", "--model", str(model), "--seed", "1"]
        + ["-o", str(tmp_path / "one.png")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert proc.returncode == 0, proc.stderr
    for fragment in ("cuInit", "cuda drivers", "absl::InitializeLog", "oneDNN"):
        assert fragment not in proc.stderr
    notebook = subprocess.run(  # the library, as a notebook calls it
        [sys.executable, "-c", f"import progan; progan.load_generator({str(model)!r})"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert notebook.returncode == 0 and notebook.stderr == "", notebook.stderr


def test_generate_every_color_is_a_seeds_by_colors_grid(tmp_path, capsys, monkeypatch):
    from tests.stubs import ConditionalColorGenerator

    g = ConditionalColorGenerator(tmp_path)
    out = tmp_path / "colors.png"
    monkeypatch.setattr(cli, "load_model", lambda path: g)  # a conditional model's stand-in
    argv = ["generate", "--seeds", "3,4", "--res", "10x6", "--every-color", "-o", str(out)]
    assert call(argv, capsys)[0] == 0
    grid = read_png(out)
    assert grid.shape == (2 * 6 + 2, 5 * 10 + 4 * 2, 3)
    for row, seed in enumerate((3, 4)):
        for column, color in enumerate(("original", "red", "green", "blue", "white")):
            tile = grid[row * 8 : row * 8 + 6, column * 12 : column * 12 + 10]
            np.testing.assert_array_equal(tile, colors.render_seeds(g, [seed], "10x6", color)[0])


def test_quantize_writes_every_image_at_each_k_and_draws_a_strip(tmp_path, capsys):
    data = tmp_path / "photos"
    (data / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "sub/b.png"):
        Image.fromarray(rng.integers(0, 255, (12, 20, 3), dtype=np.uint8)).save(data / name)
    out = tmp_path / "q"
    argv = ["quantize", "--data", str(data), "--k", "2,4", "-o", str(out)]
    code, stdout, _ = call(argv, capsys)
    assert code == 0 and "wrote 2 images at K = 2, 4" in stdout
    for k in (2, 4):
        for name in ("a.png", "sub/b.png"):
            pixels = read_png(out / f"k{k}" / name)
            assert (
                pixels.shape == (12, 20, 3) and len(np.unique(pixels.reshape(-1, 3), axis=0)) <= k
            )
    strip = tmp_path / "strip.png"
    argv = ["quantize", "--data", str(data), "--k", "2,3", "--res", "10x6", "--strip", str(strip)]
    assert call(argv, capsys)[0] == 0
    assert read_png(strip).shape == (6, 3 * 10 + 2 * 2, 3)  # full color, K=2, K=3
    bad = ["quantize", "--data", str(data), "--k", "0", "-o", str(out)]
    code, _, stderr = call(bad, capsys)
    assert code == 2 and "give whole numbers of at least 1" in stderr
    (data / "broken.png").write_bytes(b"not a png")  # counted as skipped, not as written
    code, stdout, _ = call(["quantize", "--data", str(data), "--k", "2", "-o", str(out)], capsys)
    assert (
        code == 0 and "wrote 2 images at K = 2 into" in stdout and "skipped 1 unreadable" in stdout
    )
    (tmp_path / "file").write_text("")  # an output folder that cannot be made: one line
    code, _, stderr = call(
        ["quantize", "--data", str(data), "--k", "2", "-o", str(tmp_path / "file" / "q")], capsys
    )
    assert code == 2 and stderr.startswith("error: cannot write") and stderr.count("\n") == 1
    bad = ["quantize", "--data", str(data), "--k", "2", "--strip", str(strip), "--image", "3"]
    code, _, stderr = call(bad, capsys)
    assert code == 2 and "--image 3: photos has 3 images" in stderr
    code, _, stderr = call([*bad[:-1], "-1"], capsys)
    assert code == 2 and "--image: must be a whole number from 0" in stderr


def test_the_resume_command_keeps_a_path_with_spaces_whole_and_a_jax_run_on_jax(monkeypatch):
    from progan.cli import resume_command

    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    line = resume_command(Path("/runs/my run"), "--batch-sizes", "8,4")
    assert shlex.split(line) == [
        "python", "train.py", "--out", "/runs/my run", "--resume", "--batch-sizes", "8,4"
    ]  # fmt: skip
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert shlex.split(resume_command("/runs/a"))[-2:] == ["--backend", "jax"]


def test_a_grey_model_renders_grey_and_refuses_colors_in_one_line(tmp_path: Path, capsys):
    network = dataclasses.replace(NETWORK, image_channels=1)
    grey = write_random_export(tmp_path / "grey", network, stages=3)
    out = tmp_path / "grey.png"
    assert (
        call(["generate", "--model", str(grey), "--seeds", "0-3", "-o", str(out)], capsys)[0] == 0
    )
    with Image.open(out) as image:
        assert image.mode == "L"
    for argv in (
        ["generate", "--model", str(grey), "--seed", "3", "--color", "red"],
        ["generate", "--model", str(grey), "--seed", "3", "--every-color"],
        ["prototypes", "--model", str(grey)],
    ):
        assert "is grey (1 channel): it draws no colors" in fails(argv, capsys)


def test_an_export_from_before_grey_models_loads_as_color(model_copy: Path):
    meta = json.loads((model_copy / "model.json").read_text())
    del meta["network"]["image_channels"]
    (model_copy / "model.json").write_text(json.dumps(meta))
    g = load_generator(model_copy)
    assert g.channels == 3
    assert g.render(latent.seed_latents([1], 16), "20x12").shape == (1, 12, 20, 3)
