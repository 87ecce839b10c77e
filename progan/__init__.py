"""ProGAN Studio: progressive growing of GANs in TensorFlow / Keras 3, and the tools around it.

The two calls most code needs are re-exported here. They are resolved lazily so that commands
which never touch a network (the data set generator, recoloring) do not pay for importing
TensorFlow, and the first that needs it loads it through :mod:`progan.quiet`: a notebook that
calls ``progan.load_generator()`` sees no more of TensorFlow's start-up lines than the CLI.
"""

from __future__ import annotations

from typing import Any

from progan.errors import ProganError

__all__ = ["ProganError", "load_generator", "seed_latents"]


def __getattr__(name: str) -> Any:
    if name == "load_generator":
        from progan.quiet import import_backend

        import_backend()
        from progan.export import load_generator

        return load_generator
    if name == "seed_latents":
        from progan.latent import seed_latents

        return seed_latents
    raise AttributeError(f"module 'progan' has no attribute {name!r}")
