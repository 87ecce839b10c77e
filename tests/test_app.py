"""The studio's routes through Flask's test client, on small random exports.

Images are compared with what :mod:`progan.colors` and :mod:`progan.latent` render directly (the
command line's functions), so "same seed, same picture" is checked, not assumed. Every kind of bad
input must be a 4xx with a JSON message, never a 500.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from app import __main__ as app_main
from app import create_app
from app.model import shipped_models
from config import COLORS, SHIFT_METHOD, STUDIO_LIMITS
from progan import colors, latent
from progan.cli import run
from progan.errors import ProganError
from progan.export import load_generator, write_random_export
from tests.browser_helpers import NETWORK, STAGES, add_prototypes, make_model

RESOLUTIONS = ["5x3", "10x6", "20x12", "40x24"]


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("studio") / "plain")


@pytest.fixture(scope="module")
def colored_model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("studio") / "colored", prototypes=True)


@pytest.fixture(scope="module")
def plain(plain_model: Path):
    return create_app({"MODEL_PATH": str(plain_model)}).test_client()


@pytest.fixture(scope="module")
def colored(colored_model: Path):
    return create_app({"MODEL_PATH": str(colored_model)}).test_client()


def served_generator(client):
    return client.application.extensions["progan_models"].default.generator


def decode_png(response) -> np.ndarray:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "image/png"
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def error_message(response, status: int) -> str:
    """The response is ``status`` with a short JSON message and no trace of Python."""
    body = response.get_data(as_text=True)
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert "Traceback" not in body and 'File "' not in body
    message = response.get_json()["error"]
    assert 0 < len(message) < 400
    return message


# The model description ---------------------------------------------------------------------------


def test_api_model_without_prototypes(plain) -> None:
    info = plain.get("/api/model").get_json()
    assert info["resolutions"] == RESOLUTIONS
    assert info["latent_dim"] == NETWORK.latent_dim
    assert info["images_shown"] == 0 and info["dataset"] == "random"
    assert info["name"] == "plain"
    assert [c["name"] for c in info["colors"]] == list(COLORS)
    assert [c["available"] for c in info["colors"]] == [True, False, False, False, False]
    assert all(c["success_rate"] is None for c in info["colors"])
    assert not info["prototypes"]["available"]
    assert "python -m progan prototypes --model" in info["prototypes"]["message"]
    assert info["limits"]["frames"] == [2, 120] and info["limits"]["delay_ms"] == [20, 2000]


def test_api_model_lists_measured_success_rates(colored) -> None:
    info = colored.get("/api/model").get_json()
    rates = colors.load_prototypes(served_generator(colored)).rates(SHIFT_METHOD)
    assert all(c["available"] for c in info["colors"])
    assert {c["name"]: c["success_rate"] for c in info["colors"]} == {"original": None, **rates}
    assert info["prototypes"] == {
        "available": True,
        "res": "40x24",
        "success_seeds": 16,
        "message": None,
    }


# Images ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("res", RESOLUTIONS)
def test_generate_is_the_command_lines_image(plain, res: str) -> None:
    image = decode_png(plain.get(f"/generate/{res}/7/original"))
    width, height = map(int, res.split("x"))
    assert image.shape == (height, width, 3)
    np.testing.assert_array_equal(image, colors.render_seeds(served_generator(plain), 7, res)[0])


def test_seeds_differ(plain) -> None:
    first = decode_png(plain.get("/generate/40x24/1/original"))
    assert not np.array_equal(first, decode_png(plain.get("/generate/40x24/2/original")))


@pytest.mark.parametrize("color", ["red", "blue"])
def test_color_shift_is_the_command_lines(colored, color: str) -> None:
    g = served_generator(colored)
    shifted = decode_png(colored.get(f"/generate/20x12/5/{color}"))
    np.testing.assert_array_equal(shifted, colors.render_seeds(g, 5, "20x12", color)[0])
    assert not np.array_equal(shifted, decode_png(colored.get("/generate/20x12/5/original")))


def test_color_without_prototypes_asks_for_them(plain) -> None:
    message = error_message(plain.get("/generate/40x24/5/red"), 409)
    assert "no color prototypes" in message
    assert "python -m progan prototypes --model" in message
    decode_png(plain.get("/generate/40x24/5/original"))


@pytest.mark.parametrize("t", ["0.5", "0.25", ".75", "1e-1"])
def test_interpolate_is_the_sliders_image(plain, t: str) -> None:
    image = decode_png(plain.get(f"/interpolate/20x12/3/9/{t}"))
    expected = latent.render_at_t(served_generator(plain), 3, 9, float(t), "20x12")
    np.testing.assert_array_equal(image, expected)


def test_interpolation_ends_are_the_seeds_images(plain) -> None:
    """The page shows /generate images at the slider's ends; they must match t=0 and t=1."""
    for t, seed in (("0", 3), ("1", 9), ("1.0", 9)):
        end = decode_png(plain.get(f"/interpolate/40x24/3/9/{t}")).astype(int)
        alone = decode_png(plain.get(f"/generate/40x24/{seed}/original")).astype(int)
        assert np.abs(end - alone).max() <= 1


def test_middle_differs_from_both_ends(plain) -> None:
    middle = decode_png(plain.get("/interpolate/40x24/3/9/0.5"))
    for seed in (3, 9):
        assert not np.array_equal(middle, decode_png(plain.get(f"/generate/40x24/{seed}/original")))


def read_gif(response) -> tuple[list[np.ndarray], list[int], dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "image/gif"
    with Image.open(io.BytesIO(response.data)) as gif:
        frames = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]
        delays = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
        return frames, delays, dict(gif.info)


def test_gif_has_the_frames_and_delay_asked_for(plain) -> None:
    frames, delays, info = read_gif(plain.get("/interpolate/40x24/3/9.gif?frames=7&delay=120"))
    assert len(frames) == 7 and all(frame.shape == (24, 40, 3) for frame in frames)
    assert delays == [120] * 7
    assert info["loop"] == 0


def test_gif_defaults(plain) -> None:
    frames, delays, _ = read_gif(plain.get("/interpolate/20x12/3/9.gif"))
    assert len(frames) == 30 and set(delays) == {80}


def test_gif_limits_are_inclusive(plain) -> None:
    frames, delays, _ = read_gif(plain.get("/interpolate/40x24/3/9.gif?frames=2&delay=2000"))
    assert len(frames) == 2 and delays == [2000, 2000]
    frames, delays, _ = read_gif(plain.get("/interpolate/40x24/3/9.gif?frames=120&delay=20"))
    assert len(frames) == 120 and set(delays) == {20}


# Bad input ---------------------------------------------------------------------------------------

BAD = [
    ("/generate/80x48/1/original", 404, "choose one of 5x3, 10x6, 20x12, 40x24"),
    ("/generate/big/1/original", 404, "choose one of 5x3, 10x6, 20x12, 40x24"),
    ("/generate/0x0/1/original", 404, "choose one of 5x3"),
    (
        "/generate/40x24/4294967296/original",
        400,
        "4294967296 must be a whole number from 0 to 4294967295",
    ),
    ("/generate/40x24/-1/original", 400, "seed '-1' must be a whole number from 0 to 4294967295"),
    ("/generate/40x24/abc/original", 400, "'abc' must be a whole number from 0 to"),
    ("/generate/40x24/1.5/original", 400, "must be a whole number"),
    ("/generate/40x24/%D9%A3/original", 400, "must be a whole number"),  # an Arabic-Indic digit
    pytest.param(
        "/generate/40x24/" + "9" * 5000 + "/original",
        400,
        "'99999999999999999999…' must be a whole number",
        id="5000-digit-seed",
    ),
    pytest.param("/interpolate/40x24/1/2/" + "0" * 3000 + "2", 400, "got '00000", id="long-t"),
    ("/generate/40x24/1/purple", 404, "not one of original, red, green, blue, white"),
    ("/generate/40x24/1/RED", 404, "not one of original, red, green, blue, white"),
    ("/interpolate/40x24/1/2/1.5", 400, "t must be a number from 0 to 1, got '1.5'"),
    ("/interpolate/40x24/1/2/-0.1", 400, "t must be a number from 0 to 1"),
    ("/interpolate/40x24/1/2/nan", 400, "t must be a number from 0 to 1"),
    ("/interpolate/40x24/1/2/inf", 400, "t must be a number from 0 to 1"),
    ("/interpolate/40x24/1/2/half", 400, "t must be a number from 0 to 1, got 'half'"),
    ("/interpolate/40x24/1/x/0.5", 400, "seed 'x' must be a whole number from 0 to 4294967295"),
    ("/interpolate/9x9/1/2/0.5", 404, "choose one of"),
    ("/interpolate/40x24/1/2.gif?frames=1", 400, "frames must be an integer from 2 to 120"),
    ("/interpolate/40x24/1/2.gif?frames=121", 400, "frames must be an integer from 2 to 120"),
    ("/interpolate/40x24/1/2.gif?frames=ten", 400, "got 'ten'"),
    ("/interpolate/40x24/1/2.gif?frames=", 400, "frames must be an integer"),
    ("/interpolate/40x24/1/2.gif?delay=10", 400, "delay (ms) must be an integer from 20 to 2000"),
    ("/interpolate/40x24/1/2.gif?delay=2001", 400, "from 20 to 2000, got 2001"),
    ("/interpolate/40x24/1/2.gif?delay=1.5", 400, "delay (ms) must be an integer"),
    (
        "/interpolate/40x24/4294967296/2.gif",
        400,
        "4294967296 must be a whole number from 0 to 4294967295",
    ),
    ("/interpolate/80x48/1/2.gif", 404, "choose one of"),
    ("/generate/40x24/1", 404, "no such page or route"),
    ("/nowhere", 404, "no such page or route: /nowhere"),
    pytest.param("/x" * 3000, 404, "no such page or route: /x/x", id="long-path"),
    pytest.param("/generate/" + "8" * 3000 + "/1/original", 404, "choose one of", id="long-res"),
]


@pytest.mark.parametrize("url, status, fragment", BAD)
def test_bad_input_is_a_short_json_error(plain, url: str, status: int, fragment: str) -> None:
    assert fragment in error_message(plain.get(url), status)


def test_wrong_method_is_json(plain) -> None:
    assert "Method Not Allowed" in error_message(plain.post("/generate/40x24/1/original"), 405)


def test_a_bug_is_a_500_without_details(plain, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(served_generator(plain), "render", broken)
    message = error_message(plain.get("/generate/40x24/11/original"), 500)
    assert "secret" not in message and "internal error" in message


# Caching -----------------------------------------------------------------------------------------


def test_same_url_same_bytes_and_strong_etag(plain) -> None:
    first, second = (plain.get("/generate/40x24/21/original") for _ in range(2))
    assert first.data == second.data
    tag, weak = first.get_etag()
    assert not weak and len(tag) == 40 and first.headers["ETag"] == f'"{tag}"'
    assert second.get_etag() == (tag, False)
    assert first.headers["Cache-Control"] == "no-cache"
    assert first.headers["Content-Disposition"] == 'inline; filename="seed21-40x24-original.png"'


@pytest.mark.parametrize(
    "url",
    [
        "/generate/40x24/21/original",
        "/interpolate/40x24/21/22/0.3",
        "/interpolate/40x24/21/22.gif?frames=4&delay=50",
    ],
)
def test_if_none_match_is_answered_without_rendering(plain, monkeypatch, url: str) -> None:
    g = served_generator(plain)
    tag = plain.get(url).headers["ETag"]
    rendered = []

    def counting_render(latents, res, labels=None):
        rendered.append(res)
        return type(g).render(g, latents, res, labels)

    monkeypatch.setattr(g, "render", counting_render)
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        response = plain.get(url, headers={"If-None-Match": header})
        assert response.status_code == 304 and response.data == b""
        assert response.headers["ETag"] == tag
        assert response.headers["Cache-Control"] == "no-cache"
    assert rendered == []
    # A stale tag gets the image again, from the render cache: no render either.
    response = plain.get(url, headers={"If-None-Match": '"stale"'})
    assert response.status_code == 200 and response.headers["ETag"] == tag
    assert response.data == plain.get(url).data and rendered == []


def test_only_urls_naming_the_model_version_are_cached_for_good(plain) -> None:
    version = plain.get("/api/model").get_json()["version"]
    forever = "public, max-age=31536000, immutable"
    for url in ("/generate/40x24/21/original", "/interpolate/40x24/21/22.gif?frames=4&delay=50"):
        joiner = "&" if "?" in url else "?"
        assert plain.get(f"{url}{joiner}v={version}").headers["Cache-Control"] == forever
        # A stale version (a page loaded before the model changed) must not pin old bytes.
        assert plain.get(f"{url}{joiner}v=0ld").headers["Cache-Control"] == "no-cache"


def test_bad_input_is_checked_before_a_304(plain) -> None:
    response = plain.get("/generate/40x24/99999999999/original", headers={"If-None-Match": "*"})
    error_message(response, 400)


def test_etag_names_the_parameters(plain) -> None:
    urls = [
        "/generate/40x24/21/original",
        "/generate/20x12/21/original",
        "/generate/40x24/22/original",
        "/interpolate/40x24/21/22/0.3",
        "/interpolate/40x24/21/22/0.4",
        "/interpolate/40x24/21/22.gif?frames=4&delay=50",
        "/interpolate/40x24/21/22.gif?frames=5&delay=50",
        "/interpolate/40x24/21/22.gif?frames=4&delay=60",
    ]
    tags = [plain.get(url).headers["ETag"] for url in urls]
    assert len(set(tags)) == len(urls)
    # Spellings of the same parameters name the same bytes.
    assert plain.get("/generate/40x24/021/original").headers["ETag"] == tags[0]
    assert plain.get("/interpolate/40x24/21/22/.30").headers["ETag"] == tags[3]
    # The model version the pages append only defeats stale browser caches; it names no bytes.
    assert plain.get("/generate/40x24/21/original?v=0123abcd").headers["ETag"] == tags[0]


def test_etag_names_the_color(colored) -> None:
    tags = {colored.get(f"/generate/40x24/21/{c}").headers["ETag"] for c in COLORS}
    assert len(tags) == len(COLORS)


def test_a_new_model_changes_every_etag(plain, plain_model: Path, tmp_path: Path) -> None:
    """Same URL, other weights: a browser must not keep the old model's picture."""
    other = write_random_export(tmp_path / "other", NETWORK, STAGES, seed=1)
    client = create_app({"MODEL_PATH": str(other)}).test_client()
    for url in ("/generate/40x24/21/original", "/interpolate/40x24/21/22/0.3"):
        assert client.get(url).headers["ETag"] != plain.get(url).headers["ETag"]
        assert client.get(url).data != plain.get(url).data
    versions = {c.get("/api/model").get_json()["version"] for c in (client, plain)}
    assert len(versions) == 2


def test_new_prototypes_are_served_without_a_restart(plain_model: Path, tmp_path: Path) -> None:
    """``python -m progan prototypes`` run beside a live studio: colors work on the next request,
    colored images get new tags, the original colors keep theirs."""
    folder = Path(shutil.copytree(plain_model, tmp_path / "model"))
    client = create_app({"MODEL_PATH": str(folder)}).test_client()
    original_tag = client.get("/generate/40x24/4/original").headers["ETag"]
    error_message(client.get("/generate/40x24/4/red"), 409)

    version = client.get("/api/model").get_json()["version"]
    add_prototypes(folder)
    red = client.get("/generate/40x24/4/red")
    decode_png(red)
    info = client.get("/api/model").get_json()
    assert all(c["available"] for c in info["colors"])
    assert info["version"] != version
    assert client.get("/generate/40x24/4/original").headers["ETag"] == original_tag

    add_prototypes(folder, success_seeds=8)
    assert client.get("/generate/40x24/4/red").headers["ETag"] != red.headers["ETag"]
    assert client.get("/api/model").get_json()["prototypes"]["success_seeds"] == 8


def test_broken_prototypes_are_a_409_not_a_500(plain_model: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(plain_model, tmp_path / "model"))
    client = create_app({"MODEL_PATH": str(folder)}).test_client()
    (folder / "prototypes.json").write_text("{not json")
    assert error_message(client.get("/generate/40x24/4/blue"), 409)
    info = client.get("/api/model").get_json()
    assert not info["prototypes"]["available"] and info["prototypes"]["message"]
    decode_png(client.get("/generate/40x24/4/original"))


# Concurrency, pages, start-up --------------------------------------------------------------------


def test_concurrent_requests_get_their_own_images(colored) -> None:
    """Eight threads at once, mixed resolutions and colors: each gets the sequential answer."""
    urls = [
        f"/generate/{res}/{seed}/{color}"
        for seed, res, color in zip(
            range(30, 46), RESOLUTIONS * 4, ["original", "red", "green", "blue"] * 4, strict=True
        )
    ]
    expected = {url: colored.get(url).data for url in urls}
    results: dict[str, bytes] = {}
    app = colored.application

    def fetch(part: list[str]) -> None:
        client = app.test_client()
        for url in part:
            results[url] = client.get(url).data

    threads = [threading.Thread(target=fetch, args=(urls[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


def test_pages_load_bootstrap_from_this_server(plain) -> None:
    for url in ("/", "/interpolation"):
        page = plain.get(url)
        assert page.status_code == 200 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        assert "cdn" not in html.lower() and "https://" not in html
        assert '<link rel="stylesheet" href="/bootstrap/static/css/bootstrap.min.css">' in html
    assert 'id="seed"' in plain.get("/").get_data(as_text=True)
    assert 'id="t"' in plain.get("/interpolation").get_data(as_text=True)
    css = plain.get("/bootstrap/static/css/bootstrap.min.css")
    assert css.status_code == 200 and b"Bootstrap  v5." in css.data[:200]
    for asset in ("/static/js/generate.js", "/static/js/studio.js", "/static/css/studio.css"):
        assert plain.get(asset).status_code == 200


def test_healthz(plain) -> None:
    assert plain.get("/healthz").get_json() == {
        "status": "ok",
        "model": "plain",
        "models": ["plain"],
    }


def test_create_app_needs_a_model(tmp_path: Path) -> None:
    with pytest.raises(ProganError, match="is not a model"):
        create_app({"MODEL_PATH": str(tmp_path)})


def test_python_m_app_serves_with_waitress_on_localhost(plain_model, monkeypatch) -> None:
    import waitress

    calls = []
    monkeypatch.setattr(waitress, "serve", lambda app, **kwargs: calls.append((app, kwargs)))
    with pytest.raises(SystemExit) as exit_info:
        run(app_main.main, ["--model", str(plain_model)])
    assert exit_info.value.code == 0
    ((app, kwargs),) = calls
    assert kwargs == {"host": "127.0.0.1", "port": 5000, "threads": 4}
    assert not app.debug
    assert app.extensions["progan_models"].default.generator is load_generator(plain_model)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--port", "0"], "--port: must be a whole number from 1 to 65535, got '0'"),
        (["--threads", "many"], "--threads: must be a whole number from 1 to 64"),
        (["--model", "/nonexistent/model"], "/nonexistent/model is not a model"),
    ],
)
def test_python_m_app_bad_flags_are_one_line(argv, fragment: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(app_main.main, argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and fragment in err


def test_python_m_app_says_in_one_line_when_it_cannot_bind(
    plain_model, capsys, monkeypatch
) -> None:
    import socket

    # before TensorFlow and the models load (a minute), not after
    monkeypatch.setattr(app_main, "import_backend", lambda: pytest.fail("loaded before the bind"))

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for argv, fragment in [
            (["--port", str(port)], f"cannot serve on 127.0.0.1:{port}: Address already in use"),
            (["--host", "192.0.2.1"], "cannot serve on 192.0.2.1:5000: Cannot assign requested"),
        ]:
            with pytest.raises(SystemExit) as exit_info:
                run(app_main.main, [*argv, "--model", str(plain_model)])
            err = capsys.readouterr().err
            assert exit_info.value.code == 2
            assert err.count("\n") == 1 and err.startswith("error: ") and fragment in err


# Several models, conditional ones among them -----------------------------------------------------


@pytest.fixture(scope="module")
def conditional_model(tmp_path_factory) -> Path:
    network = dataclasses.replace(NETWORK, classes=("blue", "green", "original", "red", "white"))
    folder = tmp_path_factory.mktemp("studio") / "cond" / "export"
    write_random_export(folder, network, STAGES, seed=3)
    return folder.parent


@pytest.fixture(scope="module")
def both(plain_model: Path, conditional_model: Path):
    return create_app({"MODEL_PATH": [str(plain_model), str(conditional_model)]}).test_client()


def test_models_are_picked_by_name_and_an_unknown_one_lists_the_served(both) -> None:
    info = both.get("/api/model").get_json()
    assert info["name"] == "plain" and info["default_model"] == "plain"
    assert info["models"] == [
        {"name": "plain", "conditional": False},
        {"name": "cond", "conditional": True},
    ]
    picked = both.get("/api/model?model=cond").get_json()
    assert picked["name"] == "cond" and picked["conditional"] is True
    assert picked["classes"] == ["blue", "green", "original", "red", "white"]
    assert all(c["available"] for c in picked["colors"])  # labels need no prototypes
    message = error_message(both.get("/api/model?model=nope"), 404)
    assert "'nope' is not served here; choose one of plain, cond" in message
    error_message(both.get("/generate/40x24/1/original?model=nope"), 404)
    assert both.get("/healthz").get_json()["models"] == ["plain", "cond"]


def test_a_conditional_model_draws_the_color_as_its_label(both, conditional_model: Path) -> None:
    g = load_generator(conditional_model)
    z = latent.seed_latents([42], g.latent_dim)
    for color in COLORS:
        image = decode_png(both.get(f"/generate/40x24/42/{color}?model=cond"))
        np.testing.assert_array_equal(image, g.render(z, "40x24", labels=color)[0])
    plain_image = decode_png(both.get("/generate/40x24/42/original"))
    assert not np.array_equal(
        plain_image, decode_png(both.get("/generate/40x24/42/original?model=cond"))
    )
    # the conditional model's walk: three frames, from seed 1's item to seed 2's, its ends the
    # still images of those seeds (GIF palette aside)
    frames, _, _ = read_gif(both.get("/interpolate/40x24/1/2.gif?frames=3&model=cond"))
    stills = [decode_png(both.get(f"/generate/40x24/{s}/original?model=cond")) for s in (1, 2)]

    def off(frame, still):
        return np.abs(frame.astype(int) - still).mean()

    assert len(frames) == 3
    assert 2 * off(frames[0], stills[0]) < off(frames[0], stills[1])
    assert 2 * off(frames[2], stills[1]) < off(frames[2], stills[0])


def test_measured_accuracy_of_a_conditional_model_is_shown(
    conditional_model: Path, tmp_path
) -> None:
    folder = Path(shutil.copytree(conditional_model, tmp_path / "cond"))
    client = create_app({"MODEL_PATH": str(folder)}).test_client()
    assert all(c["success_rate"] is None for c in client.get("/api/model").get_json()["colors"])
    g = load_generator(folder)
    colors.save_color_figures(g, {"accuracy_red": 0.99, "accuracy_green": 0.97})
    rates = {c["name"]: c["success_rate"] for c in client.get("/api/model").get_json()["colors"]}
    assert rates == {"original": None, "red": 0.99, "green": 0.97, "blue": None, "white": None}


def test_a_color_the_conditional_model_lacks_is_a_404(tmp_path) -> None:
    network = dataclasses.replace(NETWORK, classes=("red", "white"))
    write_random_export(tmp_path / "two", network, STAGES)
    client = create_app({"MODEL_PATH": str(tmp_path / "two")}).test_client()
    assert "it draws red, white" in error_message(client.get("/generate/40x24/1/blue"), 404)
    info = client.get("/api/model").get_json()
    assert [c["available"] for c in info["colors"]] == [False, True, False, False, True]
    # without an "original" class, what the pages draw uncolored is its first class, which the
    # middle image draws too
    assert info["default_color"] == "red"
    g = load_generator(tmp_path / "two")
    middle = decode_png(client.get("/interpolate/40x24/1/2/0.0"))
    end = decode_png(client.get("/generate/40x24/1/red"))
    np.testing.assert_array_equal(middle, end)
    assert g.classes == ["red", "white"]


def test_every_export_under_checkpoints_is_found(tmp_path, plain_model: Path) -> None:
    root = tmp_path / "checkpoints"
    shutil.copytree(plain_model, root / "export")
    shutil.copytree(root / "export", root / "second" / "export")
    shutil.copytree(root / "export", root / "bare")
    (root / "notes").mkdir()
    assert shipped_models(root) == [root, root / "bare", root / "second"]
    assert shipped_models(tmp_path / "missing") == []


# Heavy renders are bounded -------------------------------------------------------------------


def test_saturated_gif_budget_leaves_cheap_routes_fast_and_refuses_more_gifs(
    plain_model: Path, monkeypatch
) -> None:
    """Two GIFs held until the checks are done hold both heavy slots of a 4-thread server:
    /healthz and a single PNG still answer in under a second (the README's promise), a third
    GIF gets 503 with Retry-After in under a second, the two GIFs finish once released. The
    PNG route is asked once before, so its first call's graph tracing is not what is timed."""
    import json
    import time
    import urllib.error
    import urllib.request

    from tests.browser_helpers import LiveServer

    app = create_app({"MODEL_PATH": str(plain_model)})
    g = app.extensions["progan_models"].default.generator
    budget = app.extensions["progan_heavy"]
    fast = type(g).render
    released = threading.Event()

    def slow_for_animations(latents, res, labels=None):
        if len(latents) > 8:  # a GIF's frames, not a single image
            released.wait(timeout=60)
        return fast(g, latents, res, labels)

    monkeypatch.setattr(g, "render", slow_for_animations)
    gif = "/interpolate/40x24/{}/2.gif?frames=40"  # 40 × 40 × 24 pixels: heavy

    def get(url: str):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(server.url + url, timeout=30) as response:
                return response.status, dict(response.headers), response.read(), started
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read(), started

    with LiveServer(app, threads=4) as server:
        assert get("/generate/40x24/4/original")[0] == 200
        results: list = []
        workers = [
            threading.Thread(target=lambda s=s: results.append(get(gif.format(s)))) for s in (1, 3)
        ]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 10
        while budget._slots._value > 0:  # both heavy slots taken
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for url in ("/healthz", "/generate/40x24/5/original"):
            status, _, _, started = get(url)
            assert status == 200 and time.monotonic() - started < 1.0, url
        status, headers, body, started = get(gif.format(7))
        assert time.monotonic() - started < 1.0
        assert status == 503 and headers["Retry-After"] == "2"
        assert "busy with other animations" in json.loads(body)["error"]
        released.set()
        for worker in workers:
            worker.join()
    assert sorted(r[0] for r in results) == [200, 200]


def test_waitress_queue_depth_is_reported_at_most_once_a_minute() -> None:
    import logging

    now = [0.0]
    quiet = app_main.QueueDepthLog(every_s=60, clock=lambda: now[0])
    passed = []
    for second, depth in [(0, 1), (1, 5), (30, 9), (59, 2), (61, 3), (70, 1), (125, 4)]:
        now[0] = second
        record = logging.LogRecord(
            "waitress.queue", logging.WARNING, "", 0, "Task queue depth is %d", (depth,), None
        )
        if quiet.filter(record):
            passed.append(record.getMessage())
    assert passed == [
        "1 requests waiting for a server thread (at most 1 since the last report)",
        "3 requests waiting for a server thread (at most 9 since the last report)",
        "4 requests waiting for a server thread (at most 4 since the last report)",
    ]


def test_a_picture_asked_for_again_is_served_from_memory(plain_model: Path, monkeypatch) -> None:
    from app.service import RenderCache

    app = create_app({"MODEL_PATH": str(plain_model)})
    g = app.extensions["progan_models"].default.generator
    calls = []
    real = type(g).render

    def counted(latents, res, labels=None):
        calls.append(res)
        return real(g, latents, res, labels)

    monkeypatch.setattr(g, "render", counted)
    client = app.test_client()
    first = client.get("/generate/40x24/77/original")
    again = app.test_client().get("/generate/40x24/77/original")  # another visitor, no ETag
    assert first.data == again.data and calls == ["40x24"]
    cache = RenderCache(max_bytes=10)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    assert cache.get("a") == b"12345"  # "a" is now the most recent
    cache.put("c", b"123")
    assert cache.get("b") is None and cache.get("a") and cache.get("c")
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None


# Recolor a photo ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def translator(tmp_path_factory) -> Path:
    from training_helpers import make_translator

    return make_translator(tmp_path_factory.mktemp("recolor"))


def photo_bytes(size=(160, 90), fmt="JPEG") -> bytes:
    rng = np.random.default_rng(5)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def upload(client, data: bytes, name: str = "belt.jpg", **fields):
    """POST a photo to /api/recolor, by the translator unless ``fields`` say otherwise."""
    fields = {"method": "cyclegan"} | fields
    return client.post("/api/recolor", data={"photo": (io.BytesIO(data), name), **fields})


def test_recolor_answers_the_translators_picture_of_the_photo(plain_model, translator):
    from progan.cyclegan.translator import load_translator

    client = create_app({"MODEL_PATH": str(plain_model), "TRANSLATOR_PATH": str(translator)})
    client = client.test_client()
    info = client.get("/api/translator").get_json()
    assert info == {"available": True, "to": "red", "res": "80x48", "iterations": 2}
    response = upload(client, photo_bytes())
    pixels = decode_png(response)
    with Image.open(io.BytesIO(photo_bytes())) as image:
        expected = load_translator(translator).translate([np.asarray(image.convert("RGB"))])[0]
    np.testing.assert_array_equal(pixels, expected)  # the command line's function, same bytes
    assert 'filename="belt-red.png"' in response.headers["Content-Disposition"]
    assert "Recolor" in client.get("/recolor").get_data(as_text=True)


def test_an_upload_named_in_any_script_downloads_under_an_ascii_name(plain_model, translator):
    config = {"MODEL_PATH": str(plain_model), "TRANSLATOR_PATH": str(translator)}
    client = create_app(config).test_client()
    response = upload(client, photo_bytes(), "фото белья 2.jpg")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    disposition.encode("latin-1")  # what a WSGI server sends; a Cyrillic name would not encode
    assert 'filename="2-red.png"' in disposition
    assert (
        'filename="photo-red.png"'
        in upload(client, photo_bytes(), "写真.png").headers["Content-Disposition"]
    )


def test_a_large_photo_waits_for_a_heavy_slot_like_an_animation(plain_model, translator):
    limits = dataclasses.replace(STUDIO_LIMITS, heavy_slots=0, retry_after_s=3, heavy_pixels=10_000)
    config = {"MODEL_PATH": str(plain_model), "TRANSLATOR_PATH": str(translator)}
    client = create_app(config | {"STUDIO_LIMITS": limits}).test_client()
    busy = upload(client, photo_bytes())  # 14,400 pixels: heavy
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "3"
    assert "busy with other animations or photos" in busy.get_json()["error"]
    small = upload(client, photo_bytes((80, 45)))  # 3,600 pixels: light, never waits
    assert small.status_code == 200


def test_a_png_damaged_after_its_first_chunk_is_415(plain_model, translator):
    config = {"MODEL_PATH": str(plain_model), "TRANSLATOR_PATH": str(translator)}
    client = create_app(config).test_client()
    png = photo_bytes((400, 300), "PNG")  # noise: six IDAT chunks
    second = png.index(b"IDAT", png.index(b"IDAT") + 4)
    damaged = png[:second] + b"\0\0\0\0" + png[second + 4 :]  # Pillow: SyntaxError
    assert "not a readable JPEG or PNG" in error_message(upload(client, damaged, "d.png"), 415)


def test_a_damaged_translator_is_a_clear_error(translator, tmp_path):
    from progan.cyclegan.translator import WEIGHTS, Translator

    broken = tmp_path / "broken"
    shutil.copytree(translator, broken)
    weights = (broken / WEIGHTS).read_bytes()
    (broken / WEIGHTS).write_bytes(weights[: len(weights) // 2])  # cut off, as by a full disk
    with pytest.raises(ProganError, match="cannot read the translator"):
        Translator(broken)


def test_bad_uploads_are_4xx_with_a_message(plain_model, translator):
    limits = dataclasses.replace(STUDIO_LIMITS, upload_bytes=200_000, upload_pixels=300 * 200)
    config = {"MODEL_PATH": str(plain_model), "TRANSLATOR_PATH": str(translator)}
    client = create_app(config | {"STUDIO_LIMITS": limits}).test_client()
    assert "no photo" in error_message(client.post("/api/recolor"), 400)
    assert "JPEG or PNG" in error_message(upload(client, b"hello, not a photo"), 415)
    assert "GIF" in error_message(upload(client, photo_bytes(fmt="GIF"), "a.gif"), 415)
    assert "at most" in error_message(upload(client, photo_bytes((400, 200))), 413)
    # a tall strip within the caps is recolored; shrunk before it is padded, it costs no more
    strip = decode_png(upload(client, photo_bytes((10, 5000), "PNG"), "strip.png"))
    assert strip.shape == (48, 80, 3)
    big = photo_bytes((300, 200), "PNG") + b"\0" * 250_000
    assert "Too Large" in error_message(upload(client, big, "big.png"), 413)
    truncated = photo_bytes()[:500]
    error_message(upload(client, truncated), 415)


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory) -> Path:
    from training_helpers import make_segmenter

    return make_segmenter(tmp_path_factory.mktemp("segmenter"))


def test_recolor_by_predicted_mask_is_the_commands_picture_at_the_photos_size(
    plain_model, translator, segmenter
):
    """The default method: the photo at its own size, recolored inside the mask the segmenter
    predicts (the command's functions, the same bytes); the mask itself as the 8-bit PNG the
    command writes; another color of the same photo reuses the predicted mask."""
    from progan.recolor import recolor_all, to_mask_png
    from progan.segment.segmenter import load_segmenter

    config = {"MODEL_PATH": str(plain_model), "TRANSLATOR_PATH": str(translator)}
    app = create_app(config | {"SEGMENTER_PATH": str(segmenter)})
    client = app.test_client()
    info = client.get("/api/segmenter").get_json()
    assert info["available"] is True and info["res"] == "64x36"
    data = photo_bytes((320, 180))
    photo = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    mask = load_segmenter(segmenter).mask(photo)
    blue = client.post(
        "/api/recolor", data={"photo": (io.BytesIO(data), "belt.jpg"), "color": "blue"}
    )
    assert blue.status_code == 200, blue.get_json()
    np.testing.assert_array_equal(decode_png(blue), recolor_all(photo, mask, ["blue"])["blue"])
    assert 'filename="belt-blue.png"' in blue.headers["Content-Disposition"]
    answered = client.post("/api/mask", data={"photo": (io.BytesIO(data), "belt.jpg")})
    with Image.open(io.BytesIO(answered.get_data())) as png:
        assert png.mode == "L" and png.size == (320, 180)
        np.testing.assert_array_equal(np.asarray(png), to_mask_png(mask))
    assert 'filename="belt-mask.png"' in answered.headers["Content-Disposition"]
    holder = app.extensions["progan_segmenter"]
    calls = []
    real = holder.get().mask
    holder.get().mask = lambda image: calls.append(1) or real(image)
    upload(client, data, method="segment", color="green")
    assert calls == []  # the same photo's mask is remembered


def test_recolor_form_mistakes_are_400_naming_what_is_allowed(plain_model, translator, segmenter):
    config = {"MODEL_PATH": str(plain_model), "TRANSLATOR_PATH": str(translator)}
    client = create_app(config | {"SEGMENTER_PATH": str(segmenter)}).test_client()
    data = photo_bytes()
    said = error_message(upload(client, data, method="paint"), 400)
    assert "'paint' is not one of segment, cyclegan" in said
    said = error_message(upload(client, data, method="segment", color="pink"), 400)
    assert "'pink' is not one of red, green, blue, white" in said
    said = error_message(upload(client, data, color="green"), 400)
    assert "recolors to red only" in said
    assert "no photo" in error_message(client.post("/api/mask"), 400)
    without = create_app(config | {"SEGMENTER_PATH": str(translator)}).test_client()
    assert "holds no segmenter" in error_message(upload(without, data, method="segment"), 404)
    assert without.get("/api/segmenter").get_json()["available"] is False


def test_without_a_translator_the_page_says_so_and_the_api_is_404(plain_model, tmp_path):
    client = create_app({"MODEL_PATH": str(plain_model), "TRANSLATOR_PATH": str(tmp_path)})
    client = client.test_client()
    info = client.get("/api/translator").get_json()
    assert info["available"] is False and "is not a translator" in info["message"]
    assert "is not a translator" in error_message(upload(client, photo_bytes()), 404)
    assert client.get("/recolor").status_code == 200


# A grey model ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    network = dataclasses.replace(NETWORK, image_channels=1)
    folder = make_model(tmp_path_factory.mktemp("studio") / "grey", network=network)
    return create_app({"MODEL_PATH": str(folder)}).test_client()


def test_a_grey_model_serves_grey_pngs_and_gifs_and_says_it_draws_no_colors(grey) -> None:
    info = grey.get("/api/model").get_json()
    assert info["channels"] == 1
    assert [c["name"] for c in info["colors"] if c["available"]] == ["original"]
    assert "grey" in info["prototypes"]["message"]
    response = grey.get("/generate/40x24/3/original")
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.mode == "L" and image.size == (40, 24)
        served = np.asarray(image)
    g = served_generator(grey)
    np.testing.assert_array_equal(
        served, g.render(latent.seed_latents([3], g.latent_dim), "40x24")[0, ..., 0]
    )
    frames, _, _ = read_gif(grey.get("/interpolate/20x12/3/9.gif?frames=4"))
    assert all((f[..., 0] == f[..., 1]).all() and (f[..., 1] == f[..., 2]).all() for f in frames)
    assert "grey (1 channel)" in error_message(grey.get("/generate/40x24/3/red"), 409)
