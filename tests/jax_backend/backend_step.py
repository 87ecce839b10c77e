"""What the JAX tests run under either backend (the caller sets ``KERAS_BACKEND``):

    python tests/jax_backend/backend_step.py train DATA RUN      tiny run, stopped mid fade-in
    python tests/jax_backend/backend_step.py step DATA RUN OUT   resume it, one step, save OUT.npz
    python tests/jax_backend/backend_step.py render MODEL OUT    seeds 0-7 rendered, save OUT.npy

A step's file holds its losses (``loss/…``) and every weight of G and D after it, so one step
taken from the same checkpoint under two backends can be compared number by number.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import numpy as np  # noqa: E402
from keras import ops  # noqa: E402
from training_helpers import StopMidFade, tiny_config  # noqa: E402

from progan.trainer import Trainer  # noqa: E402


def one_step(trainer: Trainer) -> dict[str, np.ndarray]:
    """The next step of a resumed run, on its own next batch: losses, then G's and D's weights."""
    phase = trainer.phases[trainer.progress.phase]
    batch_size = trainer.cfg.schedule.batch_sizes[phase.stage]
    batch = next(iter(trainer.phase_dataset(phase.stage, trainer.progress.images_shown, 1)))
    alpha = ops.convert_to_tensor(trainer.progress.alpha, "float32")
    metrics = trainer.make_step(phase, batch_size)(batch, alpha)
    result = {f"loss/{name}": np.asarray(value) for name, value in metrics.items()}
    for prefix, model in (("generator", trainer.models.G), ("discriminator", trainer.models.D)):
        result |= {f"{prefix}/{v.path}": v.numpy() for v in model.weights}
    return result


def main(command: str, *paths: str) -> None:
    if command == "train":
        data, run = map(Path, paths)
        try:
            StopMidFade(tiny_config(run, data, eval_images=0)).train()
        except KeyboardInterrupt:
            return
        raise SystemExit("the run did not stop mid fade-in")
    if command == "step":
        data, run, out = map(Path, paths)
        np.savez(out, **one_step(Trainer(tiny_config(run, data, eval_images=0, resume=True))))
        return
    if command == "render":
        from progan import load_generator
        from progan.latent import seed_latents

        model, out = paths
        g = load_generator(model)
        np.save(out, g.render(seed_latents(list(range(8)), g.latent_dim), g.resolutions[-1]))
        return
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(*sys.argv[1:])
