"""What the studio's routes do, apart from HTTP: check the input, name the result, render it.

Each route's input becomes a small frozen request object (:class:`SeedImage`, :class:`Between`,
:class:`Walk`) built by a ``parse_*`` function that raises :class:`RequestError` with the HTTP
status and a message saying what is allowed. A request object knows its cache key, file name and
MIME type without rendering, so a view can answer ``304 Not Modified`` at no cost, and renders
by calling :mod:`progan.latent` and :mod:`progan.colors`, the functions the command line calls,
so a seed gives the same picture in both.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from app.model import ModelHolder, ModelRegistry, Snapshot
from config import COLOR_HUES, COLORS, LATENT_LIMITS, SHIFT_METHOD, STUDIO_LIMITS, StudioLimits
from progan import colors, latent
from progan.errors import ProganError
from progan.recolor import recolor_all, to_mask_png
from progan.resolution import parse_res as shape_of
from progan.sources import UNREADABLE

# Longest number text turned into an int; longer ones are refused by their text alone (Python
# refuses int() of very long strings, and no valid seed, frame count or delay is that long).
_MAX_DIGITS = 40


SEED_MAX = latent.SEED_LIMIT - 1


class RequestError(ProganError):
    """A user's mistake in a request, with the HTTP status that answers it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Busy(ProganError):
    """Every slot for heavy renders is taken: 503, try again after ``retry_after`` seconds."""

    status = 503

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"the studio is busy with other animations or photos; try again in {retry_after} s"
        )
        self.retry_after = retry_after


class RenderCache:
    """The bytes of recent renders by ETag, least recently used first out, within a byte
    budget; a tag names the model, libraries and parameters, so a hit is the same picture."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, tag: str) -> bytes | None:
        with self._lock:
            body = self._items.get(tag)
            if body is not None:
                self._items.move_to_end(tag)
            return body

    def put(self, tag: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            if tag in self._items:
                return
            self._items[tag] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)


class HeavyBudget:
    """At most ``slots`` heavy renders at once (:class:`config.StudioLimits`); the rest fail
    fast with :class:`Busy` instead of taking the threads cheap requests need."""

    def __init__(self, limits: StudioLimits = STUDIO_LIMITS) -> None:
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.heavy_slots)

    def render(self, item: ImageRequest, snapshot: Snapshot) -> bytes:
        return self.run(item.pixels, lambda: item.render(snapshot))

    def run(self, pixels: int, work: Callable[[], bytes]) -> bytes:
        """``work`` (touching ``pixels`` pixels) at once if light, else in a free slot."""
        if pixels <= self.limits.heavy_pixels:
            return work()
        if not self._slots.acquire(blocking=False):
            raise Busy(self.limits.retry_after_s)
        try:
            return work()
        finally:
            self._slots.release()


# Input -------------------------------------------------------------------------------------------


def parse_res(snapshot: Snapshot, text: str) -> str:
    """The model's spelling of a resolution; 404 listing the available ones otherwise."""
    available = snapshot.generator.resolutions
    try:
        return latent.check_res(snapshot.generator, text)
    except ProganError:
        raise RequestError(
            f"resolution {shown(text)!r} is not available; choose one of {', '.join(available)}",
            404,
        ) from None


def parse_seed(text: str) -> int:
    """A decimal seed in ``[0, 2**32)``; 400 otherwise."""
    try:
        return latent.check_seed(_as_int(text))
    except ProganError as err:
        raise RequestError(str(err)) from None


def parse_color(snapshot: Snapshot, text: str) -> str:
    """A known color (404 otherwise) that this model can render: a class of a conditional model
    (404 otherwise), any color of an unconditional one with prototypes (409 without)."""
    if text not in COLORS:
        raise RequestError(f"color {shown(text)!r} is not one of {', '.join(COLORS)}", 404)
    classes = snapshot.generator.classes
    if classes:
        if text not in classes:
            raise RequestError(
                f"color {text!r} is not a class of this model; it draws {', '.join(classes)}", 404
            )
        return text
    if text != "original" and snapshot.prototypes is None:
        raise RequestError(str(snapshot.prototypes_error), 409)
    return text


def parse_t(text: str) -> float:
    """A position between two seeds, a finite number in ``[0, 1]``; 400 otherwise."""
    try:
        t = float(text)
    except ValueError:
        t = math.nan
    if not 0.0 <= t <= 1.0:
        raise RequestError(f"t must be a number from 0 to 1, got {shown(text)!r}")
    return t


def parse_frames(text: str | None) -> int:
    if text is None:
        return Walk.default_frames
    try:
        return latent.check_frames(_as_int(text))
    except ProganError as err:
        raise RequestError(str(err)) from None


def parse_delay(text: str | None) -> int:
    if text is None:
        return Walk.default_delay_ms
    try:
        return latent.check_delay(_as_int(text))
    except ProganError as err:
        raise RequestError(str(err)) from None


def _as_int(text: str) -> int | str:
    """Plain decimal digits as an int; anything else stays text for the checker to refuse."""
    if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS:
        return int(text)
    return shown(text)


def shown(text: str) -> str:
    """``text`` cut short enough to quote in an error message."""
    return text if len(text) <= _MAX_DIGITS else text[: _MAX_DIGITS // 2] + "…"


# Requests ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedImage:
    """``GET /generate/<res>/<seed>/<color>``: one seed's PNG."""

    res: str
    seed: int
    color: str
    mimetype: ClassVar[str] = "image/png"

    def key(self, snapshot: Snapshot) -> tuple:
        # The original colors do not depend on the prototypes, so new prototypes leave
        # those cached images valid.
        proto = snapshot.prototypes_id if self.color != "original" else ""
        return ("generate", self.res, self.seed, self.color, proto)

    @property
    def filename(self) -> str:
        return f"seed{self.seed}-{self.res}-{self.color}.png"

    @property
    def pixels(self) -> int:
        return math.prod(shape_of(self.res))

    def render(self, snapshot: Snapshot) -> bytes:
        """As ``colors.render_seeds``, with the snapshot's prototypes passed in explicitly."""
        g = snapshot.generator
        latents = latent.seed_latents([self.seed], g.latent_dim)
        images = colors.render_in_color(g, latents, self.res, self.color, snapshot.prototypes)
        return latent.encode_png(images[0])


@dataclass(frozen=True)
class Between:
    """``GET /interpolate/<res>/<a>/<b>/<t>``: the image at ``t`` on the way from a to b."""

    res: str
    seed_a: int
    seed_b: int
    t: float
    mimetype: ClassVar[str] = "image/png"

    def key(self, snapshot: Snapshot) -> tuple:
        return ("interpolate", self.res, self.seed_a, self.seed_b, repr(self.t))

    @property
    def filename(self) -> str:
        return f"seed{self.seed_a}-seed{self.seed_b}-t{self.t:g}-{self.res}.png"

    @property
    def pixels(self) -> int:
        return math.prod(shape_of(self.res))

    def render(self, snapshot: Snapshot) -> bytes:
        g = snapshot.generator
        return latent.encode_png(latent.render_at_t(g, self.seed_a, self.seed_b, self.t, self.res))


@dataclass(frozen=True)
class Walk:
    """``GET /interpolate/<res>/<a>/<b>.gif``: the animation from a to b."""

    res: str
    seed_a: int
    seed_b: int
    frames: int
    delay_ms: int
    mimetype: ClassVar[str] = "image/gif"
    default_frames: ClassVar[int] = 30
    default_delay_ms: ClassVar[int] = 80

    def key(self, snapshot: Snapshot) -> tuple:
        return ("gif", self.res, self.seed_a, self.seed_b, self.frames, self.delay_ms)

    @property
    def filename(self) -> str:
        return f"seed{self.seed_a}-seed{self.seed_b}-{self.res}-{self.frames}f.gif"

    @property
    def pixels(self) -> int:
        return self.frames * math.prod(shape_of(self.res))

    def render(self, snapshot: Snapshot) -> bytes:
        return latent.render_gif_bytes(
            snapshot.generator,
            self.seed_a,
            self.seed_b,
            self.res,
            frames=self.frames,
            delay_ms=self.delay_ms,
        )


ImageRequest = SeedImage | Between | Walk


def parse_seed_image(snapshot: Snapshot, res: str, seed: str, color: str) -> SeedImage:
    return SeedImage(parse_res(snapshot, res), parse_seed(seed), parse_color(snapshot, color))


def parse_between(snapshot: Snapshot, res: str, seed_a: str, seed_b: str, t: str) -> Between:
    return Between(parse_res(snapshot, res), parse_seed(seed_a), parse_seed(seed_b), parse_t(t))


def parse_walk(
    snapshot: Snapshot, res: str, seed_a: str, seed_b: str, frames: str | None, delay: str | None
) -> Walk:
    return Walk(
        parse_res(snapshot, res),
        parse_seed(seed_a),
        parse_seed(seed_b),
        parse_frames(frames),
        parse_delay(delay),
    )


def etag(snapshot: Snapshot, item: ImageRequest) -> str:
    """A strong ETag: the same model, libraries and canonical parameters give the same bytes."""
    text = "\n".join([snapshot.model_id, *map(str, item.key(snapshot))])
    return hashlib.sha256(text.encode()).hexdigest()[:40]


# Model description -------------------------------------------------------------------------------


def color_rates(snapshot: Snapshot) -> dict[str, float]:
    """The measured share of images that come out in each color: a conditional model's label
    accuracy from its last ``evaluate``, an unconditional model's shift success."""
    g = snapshot.generator
    if g.classes:
        figures = colors.read_color_figures(g.path) or {}
        return {c: figures[f"accuracy_{c}"] for c in colors.CLASSES if f"accuracy_{c}" in figures}
    prototypes = snapshot.prototypes
    return (prototypes.rates(SHIFT_METHOD) or {}) if prototypes else {}


def model_info(holder: ModelHolder, registry: ModelRegistry) -> dict[str, Any]:
    """The body of ``GET /api/model``: what the pages need to build their forms."""
    snapshot = holder.current()
    g = snapshot.generator
    prototypes = snapshot.prototypes
    rates = color_rates(snapshot)
    limits = LATENT_LIMITS
    return {
        "name": holder.name,
        "models": [
            {"name": name, "conditional": bool(other.generator.classes)}
            for name, other in registry.holders.items()
        ],
        "default_model": registry.default.name,
        "conditional": bool(g.classes),
        "classes": list(g.classes),
        # what a page draws when it asks for no color (the interpolation page's ends): the
        # class the middle image and the GIF draw too
        "default_color": latent.default_label(g) or "original",
        "dataset": g.metadata.get("dataset"),
        "created": g.metadata.get("created"),
        "resolutions": list(g.resolutions),
        "latent_dim": g.latent_dim,
        # 1: a grey model, which draws no colors (only "original" is available)
        "channels": g.channels,
        "images_shown": g.metadata.get("images_shown"),
        "colors": [
            {
                "name": name,
                "available": name in g.classes
                if g.classes
                else name == "original" or prototypes is not None,
                "success_rate": rates.get(name),
            }
            for name in COLORS
        ],
        "prototypes": {
            "available": prototypes is not None,
            "res": prototypes.res if prototypes else None,
            "success_seeds": len(prototypes.success_seeds)
            if prototypes and prototypes.success_seeds
            else None,
            "message": snapshot.prototypes_error,
        },
        "limits": {
            "seed_max": SEED_MAX,
            "frames": [limits.min_frames, limits.max_frames],
            "delay_ms": [limits.min_delay_ms, limits.max_delay_ms],
            "default_frames": Walk.default_frames,
            "default_delay_ms": Walk.default_delay_ms,
        },
        "version": snapshot.version,
    }


# Recolor ------------------------------------------------------------------------------------------

UPLOAD_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "MPO": "JPEG"}  # MPO: a phone's JPEG


def open_photo(data: bytes, limits: StudioLimits = STUDIO_LIMITS) -> Image.Image:
    """An uploaded photo's header: JPEG or PNG within the pixel limit; 400, 413 or 415 with a
    message otherwise (the byte limit is the app's ``MAX_CONTENT_LENGTH``). Nothing is decoded
    yet, so the checks cost no memory."""
    if not data:
        raise RequestError("no photo: send a JPEG or PNG file in the form field 'photo'")
    try:
        image = Image.open(io.BytesIO(data))
    except UNREADABLE as err:
        raise unreadable_photo(err) from None
    if image.format not in UPLOAD_FORMATS:
        image.close()
        raise RequestError(f"a {image.format or 'non-image'} file; upload a JPEG or PNG photo", 415)
    if image.width * image.height > limits.upload_pixels:
        image.close()
        raise RequestError(
            f"the photo has {image.width}x{image.height} pixels; at most "
            f"{millions(limits.upload_pixels)} are accepted",
            413,
        )
    return image


def unreadable_photo(err: Exception) -> RequestError:
    return RequestError(f"the file is not a readable JPEG or PNG photo ({err})", 415)


def millions(pixels: int) -> str:
    return f"{pixels / 1e6:.3g} million"


def decode_photo(image: Image.Image) -> np.ndarray:
    """The photo's pixels as RGB uint8; 415 when they turn out to be damaged."""
    try:
        image.load()
        return np.asarray(image.convert("RGB"))
    except UNREADABLE as err:
        raise unreadable_photo(err) from None


def safe_name(stem: str) -> str:
    """A file name's stem reduced to ASCII letters, digits, - and _: what every browser and
    shell takes, and what an HTTP header (latin-1 on the wire) can carry."""
    kept = "".join(c if (c.isascii() and c.isalnum()) or c in "-_" else "_" for c in stem)[:60]
    return kept.strip("_") or "photo"


@dataclass(frozen=True)
class Recolored:
    png: bytes
    filename: str


RECOLOR_METHODS = ("segment", "cyclegan")


def parse_recolor(method: str | None, color: str | None, translator_target: Callable[[], str]):
    """The recolor form's method (``segment`` unless given) and color (red unless given); 400
    naming what is allowed otherwise. The translator draws one color only."""
    method = method or "segment"
    if method not in RECOLOR_METHODS:
        raise RequestError(f"method {shown(method)!r} is not one of {', '.join(RECOLOR_METHODS)}")
    if method == "cyclegan":
        target = translator_target()
        if color not in (None, "", target):
            raise RequestError(f"the CycleGAN translator recolors to {target} only")
        return method, target
    color = color or "red"
    if color not in COLOR_HUES:
        raise RequestError(f"color {shown(color)!r} is not one of {', '.join(COLOR_HUES)}")
    return method, color


def loaded(holder: Any) -> Any:
    """A translator or segmenter holder's model; 404 with its message when there is none."""
    try:
        return holder.get()
    except ProganError as err:
        raise RequestError(str(err), 404) from None


def predicted_mask(segmenters: Any, data: bytes, photo: Callable[[], np.ndarray]) -> np.ndarray:
    """The soft mask the segmenter predicts for the upload ``data`` (decoded by ``photo()``
    unless the mask is remembered), the same call the command makes."""
    loaded(segmenters)
    return segmenters.mask(hashlib.sha256(data).hexdigest(), photo)


def mask_upload(segmenters: Any, data: bytes, filename: str | None, budget: HeavyBudget):
    """The predicted mask of an uploaded photo as the 8-bit PNG the command writes to
    ``OUT/masks`` (0 belt to 255 cloth), at the photo's size."""
    with open_photo(data, budget.limits) as image:

        def masked() -> bytes:
            mask = predicted_mask(segmenters, data, lambda: decode_photo(image))
            buffer = io.BytesIO()
            Image.fromarray(to_mask_png(mask), "L").save(buffer, format="PNG")
            return buffer.getvalue()

        png = budget.run(image.width * image.height, masked)
    return Recolored(png, f"{upload_stem(filename)}-mask.png")


def recolor_upload(
    translators: Any,
    segmenters: Any,
    data: bytes,
    filename: str | None,
    budget: HeavyBudget,
    method: str | None = None,
    color: str | None = None,
) -> Recolored:
    """An uploaded photo recolored by the same calls ``python -m progan translate`` makes, as
    PNG named after the upload and the color: inside the predicted mask at the photo's own size
    (``segment``), or regenerated by the CycleGAN translator at its resolution (``cyclegan``).
    The photo is decoded in memory, so a large one takes a heavy-render slot before it is
    decoded (503 when none is free); a thin strip costs the translator no more
    (:func:`progan.data.fit_to` shrinks it before padding)."""
    method, color = parse_recolor(method, color, lambda: loaded(translators).target)
    with open_photo(data, budget.limits) as image:
        if method == "cyclegan":
            translator = loaded(translators)

            def recolored() -> bytes:
                return latent.encode_png(translator.translate([decode_photo(image)])[0])

        else:

            def recolored() -> bytes:
                photo = decode_photo(image)
                mask = predicted_mask(segmenters, data, lambda: photo)
                return latent.encode_png(recolor_all(photo, mask, [color])[color])

        png = budget.run(image.width * image.height, recolored)
    return Recolored(png, f"{upload_stem(filename)}-{color}.png")


def upload_stem(filename: str | None) -> str:
    return safe_name((filename or "photo").rsplit(".", 1)[0])
