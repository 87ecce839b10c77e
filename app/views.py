"""The studio's routes: pages, images, the model description, and JSON for every error.

Views only turn URL parts into a request object (:mod:`app.service` validates them), answer
``304`` when the browser already has those bytes, and otherwise return what the request renders.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from app import service
from app.model import ModelHolder, ModelRegistry, Snapshot
from progan.errors import ProganError

bp = Blueprint("studio", __name__)

# An image URL carrying the model's version (``?v=``, as the pages add) names its bytes for good,
# so browsers and proxies may keep it for a year without asking again. A bare URL (typed, or
# from a script) must be revalidated: a new model behind it answers with a new ETag, an
# unchanged one with an empty 304.
CACHE_FOREVER = "public, max-age=31536000, immutable"
CACHE_REVALIDATE = "no-cache"


def registry() -> ModelRegistry:
    return current_app.extensions["progan_models"]


def holder() -> ModelHolder:
    """The model this request names with ``?model=`` (the default one without it)."""
    return registry().get(request.args.get("model"))


def cached(snapshot: Snapshot, item: service.ImageRequest) -> Response:
    """``item``'s bytes with a strong ETag, or an empty 304 when the client has that tag.

    ``snapshot`` is the one ``item`` was validated against, so a prototypes file replaced
    meanwhile cannot make the check and the render disagree.
    """
    tag = service.etag(snapshot, item)
    if request.if_none_match.contains_weak(tag):
        response = Response(status=304)
    else:
        cache = current_app.extensions["progan_renders"]
        body = cache.get(tag)
        if body is None:
            body = current_app.extensions["progan_heavy"].render(item, snapshot)
            cache.put(tag, body)
        response = Response(body, mimetype=item.mimetype)
        response.headers["Content-Disposition"] = f'inline; filename="{item.filename}"'
    response.set_etag(tag)
    versioned = request.args.get("v") == snapshot.version
    response.headers["Cache-Control"] = CACHE_FOREVER if versioned else CACHE_REVALIDATE
    return response


# Pages -------------------------------------------------------------------------------------------


@bp.app_context_processor
def page_limits() -> dict:
    """What every page's scripts check input against before asking (``<body data-*>``)."""
    return {"seed_max": service.SEED_MAX}


@bp.get("/")
def generate_page() -> str:
    return render_template("generate.html", page="generate")


@bp.get("/interpolation")
def interpolation_page() -> str:
    return render_template("interpolation.html", page="interpolation")


@bp.get("/recolor")
def recolor_page() -> str:
    max_mb = current_limits().upload_bytes // 2**20
    colors = list(service.COLOR_HUES)
    return render_template("recolor.html", page="recolor", max_mb=max_mb, colors=colors)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok", model=registry().default.name, models=list(registry().holders))


@bp.get("/api/model")
def model_info() -> Response:
    response = jsonify(service.model_info(holder(), registry()))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/api/translator")
def translator_info() -> Response:
    return jsonify(current_app.extensions["progan_translator"].describe())


# Images ------------------------------------------------------------------------------------------


@bp.get("/generate/<res>/<seed>/<color>")
def generate(res: str, seed: str, color: str) -> Response:
    snapshot = holder().current()
    return cached(snapshot, service.parse_seed_image(snapshot, res, seed, color))


@bp.get("/interpolate/<res>/<seed_a>/<seed_b>/<t>")
def interpolate(res: str, seed_a: str, seed_b: str, t: str) -> Response:
    snapshot = holder().current()
    return cached(snapshot, service.parse_between(snapshot, res, seed_a, seed_b, t))


@bp.get("/interpolate/<res>/<seed_a>/<seed_b>.gif")
def interpolate_gif(res: str, seed_a: str, seed_b: str) -> Response:
    snapshot = holder().current()
    frames, delay = request.args.get("frames"), request.args.get("delay")
    return cached(snapshot, service.parse_walk(snapshot, res, seed_a, seed_b, frames, delay))


@bp.get("/api/segmenter")
def segmenter_info() -> Response:
    return jsonify(current_app.extensions["progan_segmenter"].describe())


@bp.post("/api/recolor")
def recolor() -> Response:
    """The uploaded photo (form field ``photo``) recolored, as PNG: inside the predicted mask at
    its own size (``method=segment``, the default, in ``color``) or by the translator."""
    data, filename = uploaded_photo()
    recolored = service.recolor_upload(
        current_app.extensions["progan_translator"],
        current_app.extensions["progan_segmenter"],
        data,
        filename,
        current_app.extensions["progan_heavy"],
        request.form.get("method"),
        request.form.get("color"),
    )
    return png_download(recolored)


@bp.post("/api/mask")
def mask() -> Response:
    """The cloth mask the segmenter predicts for the uploaded photo, as an 8-bit PNG."""
    data, filename = uploaded_photo()
    predicted = service.mask_upload(
        current_app.extensions["progan_segmenter"],
        data,
        filename,
        current_app.extensions["progan_heavy"],
    )
    return png_download(predicted)


def uploaded_photo() -> tuple[bytes, str | None]:
    upload = request.files.get("photo")
    return (upload.read(), upload.filename) if upload else (b"", None)


def png_download(result: service.Recolored) -> Response:
    response = Response(result.png, mimetype="image/png")
    response.headers["Content-Disposition"] = f'inline; filename="{result.filename}"'
    return response


# Errors ------------------------------------------------------------------------------------------


def error_json(message: str, status: int) -> tuple[Response, int]:
    return jsonify(error=message, status=status), status


@bp.app_errorhandler(service.Busy)
def busy(err: service.Busy) -> tuple[Response, int]:
    response, status = error_json(str(err), 503)
    response.headers["Retry-After"] = str(err.retry_after)
    return response, status


@bp.app_errorhandler(ProganError)
def user_error(err: ProganError) -> tuple[Response, int]:
    return error_json(str(err), getattr(err, "status", 400))


@bp.app_errorhandler(HTTPException)
def http_error(err: HTTPException) -> tuple[Response, int]:
    if err.code == 404:
        return error_json(
            f"no such page or route: {service.shown(request.path)}; images are "
            "/generate/<res>/<seed>/<color>, /interpolate/<res>/<seed_a>/<seed_b>/<t> and "
            "/interpolate/<res>/<seed_a>/<seed_b>.gif, the model is described at /api/model, "
            "photos are recolored by POST /api/recolor (their masks by POST /api/mask)",
            404,
        )
    return error_json(f"{err.name}: {err.description}", err.code or 500)


@bp.app_errorhandler(Exception)
def internal_error(err: Exception) -> tuple[Response, int]:
    """Log the bug with its traceback; the client learns only that it was ours."""
    current_app.logger.exception("unhandled error on %s", request.path)
    return error_json("internal error; the server log has the details", 500)


def current_limits():
    return current_app.config.get("STUDIO_LIMITS", service.STUDIO_LIMITS)
