"""ProGAN Studio's web application: pages and image routes over one loaded model.

:func:`create_app` is the factory; ``python -m app`` serves it with waitress. Settings come from
the mapping passed in (tests pass a random export as ``MODEL_PATH``):

- ``MODEL_PATH``: an export folder or a training run folder, or a list of them (the first is
  the default); None serves the shipped model in ``checkpoints/``.
- ``SHIPPED_MODELS``: also serve every export under ``checkpoints/`` (``python -m app`` does;
  off by default, so a test serves exactly the model it made).
- ``STUDIO_LIMITS``: a :class:`config.StudioLimits` (how many heavy renders at once, how many
  bytes of recent renders are kept, how large an uploaded photo may be).
- ``TRANSLATOR_PATH``: the CycleGAN translator of the recolor page (a run or export folder);
  None uses the shipped one in ``checkpoints/recolor`` when there is one.
- ``SEGMENTER_PATH``: the cloth segmenter of the recolor page's mask-free recolor (an export
  folder); None uses the shipped one in ``checkpoints/segmenter``.
- ``BOOTSTRAP_SERVE_LOCAL`` is forced on: Bootstrap's files come from the Bootstrap-Flask package
  on this machine, never a CDN, so the studio works offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_bootstrap import Bootstrap5

from app.model import ModelRegistry, SegmenterHolder, TranslatorHolder, shipped_models
from app.service import HeavyBudget, RenderCache
from app.views import bp
from config import SHARE_ROOT, STUDIO_LIMITS


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the studio and load its model (a :class:`progan.ProganError` if there is none)."""
    app = Flask(
        __name__,
        template_folder=str(SHARE_ROOT / "templates"),
        static_folder=str(SHARE_ROOT / "static"),
    )
    app.config.update(
        MODEL_PATH=None, SHIPPED_MODELS=False, TRANSLATOR_PATH=None, SEGMENTER_PATH=None
    )
    app.config.update(config or {})
    app.config["BOOTSTRAP_SERVE_LOCAL"] = True
    app.json.sort_keys = False
    Bootstrap5(app)
    given = app.config["MODEL_PATH"]
    paths = list(given) if isinstance(given, (list, tuple)) else [given]
    if app.config["SHIPPED_MODELS"]:
        paths += shipped_models()  # the registry skips a folder it already has
    app.extensions["progan_models"] = ModelRegistry(paths)
    limits = app.config.get("STUDIO_LIMITS", STUDIO_LIMITS)
    app.extensions["progan_heavy"] = HeavyBudget(limits)
    app.extensions["progan_renders"] = RenderCache(limits.cache_bytes)
    app.extensions["progan_translator"] = TranslatorHolder(app.config["TRANSLATOR_PATH"])
    app.extensions["progan_segmenter"] = SegmenterHolder(app.config["SEGMENTER_PATH"])
    app.config["MAX_CONTENT_LENGTH"] = limits.upload_bytes

    app.register_blueprint(bp)
    return app
