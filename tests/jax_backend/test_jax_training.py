"""Training under JAX: a run trains, stops, resumes exactly and exports; checkpoints and exports
cross between TensorFlow and JAX."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from backend_step import REPO
from training_helpers import StopMidFade, assert_same_weights, tiny_config

import progan
from progan import checkpoints
from progan import train_command as train_cli
from progan.latent import seed_latents
from progan.trainer import Trainer

SCRIPT = Path(__file__).with_name("backend_step.py")


def under(backend: str, *args) -> None:
    """``backend_step.py args`` in a process of its own on ``backend``."""
    env = os.environ | {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def straight(image_folder, tmp_path_factory) -> Trainer:
    trainer = Trainer(tiny_config(tmp_path_factory.mktemp("jax") / "a", image_folder))
    trainer.train()
    return trainer


def test_a_run_stopped_mid_fade_in_resumes_exactly_under_jax(straight, image_folder, tmp_path):
    stopped = StopMidFade(tiny_config(tmp_path / "b", image_folder))
    with pytest.raises(KeyboardInterrupt):
        stopped.train()
    assert (stopped.progress.phase, stopped.progress.phase_images) == (1, 24)
    assert checkpoints.steps(tmp_path / "b" / "checkpoints")[-1] == 72

    resumed = Trainer(tiny_config(tmp_path / "b", image_folder, resume=True))
    assert resumed.progress.images_shown == 48 + 24 and resumed.progress.alpha == pytest.approx(0.5)
    assert int(resumed.models.g_opt.iterations.numpy()) == 3  # Adam state restored mid-phase
    resumed.train()
    assert resumed.progress.images_shown == straight.progress.images_shown == 144
    assert_same_weights(
        (straight.models.G_ema, resumed.models.G_ema), (straight.models.D, resumed.models.D)
    )
    assert list((tmp_path / "b" / "tb").glob("events.out.tfevents.*"))


def test_mirrored_under_jax_shards_the_batch_and_trains_the_same_run(
    straight, image_folder, tmp_path
):
    import jax

    assert jax.local_device_count() == 2
    mirrored = Trainer(tiny_config(tmp_path / "m", image_folder, strategy="mirrored"))
    mirrored.train()
    assert len(mirrored.models.D.weights[0].value.sharding.device_set) == 2  # replicated on both
    assert_same_weights((straight.models.G_ema, mirrored.models.G_ema))


def test_train_py_under_jax_trains_grows_with_resume_and_exports(image_folder, tmp_path):
    run = tmp_path / "run"
    common = ["--data-root", str(tmp_path / "data"), "--batch-sizes", "8,8,8"]
    assert (
        train_cli.main(
            [
                "--backend",
                "jax",
                "--data",
                str(image_folder),
                "--out",
                str(run),
                "--max-res",
                "10x6",
            ]
            + ["--kimg-per-phase", "0.032", "--eval-images", "16", *common]
        )
        == 0
    )
    assert train_cli.main(["--out", str(run), "--resume", "--max-res", "20x12", *common]) == 0
    g = progan.load_generator(run)
    assert g.resolutions == ["5x3", "10x6", "20x12"] and g.metadata["images_shown"] == 5 * 32
    images = g.render(seed_latents([1, 2, 3], g.latent_dim), "20x12")
    assert images.shape == (3, 12, 20, 3) and images.std() > 0


def test_a_tensorflow_checkpoint_resumes_under_jax_with_the_same_next_step(image_folder, tmp_path):
    """Stopped mid fade-in under TensorFlow (Adam state included), one more step under each
    backend from that checkpoint: the losses agree to 1e-4 and every weight to 1e-5 (relative,
    1e-6 absolute)."""
    run = tmp_path / "run"
    under("tensorflow", "train", image_folder, run)
    under("tensorflow", "step", image_folder, run, tmp_path / "tf.npz")
    under("jax", "step", image_folder, run, tmp_path / "jax.npz")
    with np.load(tmp_path / "tf.npz") as a, np.load(tmp_path / "jax.npz") as b:
        assert sorted(a) == sorted(b)
        for key in a:
            rtol = 1e-4 if key.startswith("loss/") else 1e-5
            np.testing.assert_allclose(b[key], a[key], rtol=rtol, atol=1e-6, err_msg=key)


def test_an_export_written_under_jax_renders_the_same_under_tensorflow(straight, tmp_path):
    g = progan.load_generator(straight.run_dir)
    here = g.render(seed_latents(list(range(8)), g.latent_dim), g.resolutions[-1])
    under("tensorflow", "render", straight.run_dir, tmp_path / "tf.npy")
    there = np.load(tmp_path / "tf.npy")
    assert np.abs(here.astype(int) - there).max() <= 1


def test_the_studio_serves_the_shipped_models_under_jax():
    """The studio on a machine with JAX and no TensorFlow: both shipped models render."""
    from app import create_app

    client = create_app({"MODEL_PATH": None, "SHIPPED_MODELS": True}).test_client()
    info = client.get("/api/model?model=laundry-color").get_json()
    assert info["conditional"] and "red" in info["classes"]
    for url in ("/generate/80x48/42/original", "/generate/80x48/42/red?model=laundry-color"):
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "image/png", url


def test_out_of_memory_under_jax_is_told_from_other_runtime_errors():
    import jax

    from progan import backend

    exhausted = "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.20GiB"
    assert backend.is_out_of_memory(jax.errors.JaxRuntimeError(exhausted))
    assert not backend.is_out_of_memory(jax.errors.JaxRuntimeError("INTERNAL: a kernel failed"))
    assert not backend.is_out_of_memory(ValueError(exhausted))
