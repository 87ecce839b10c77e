"""Helpers for the studio's tests: small models, the real app on a free port, Chromium, screenshots.

The live server is the production one (waitress) in a thread of the test process, so the browser
tests share TensorFlow's start-up with the rest of the suite. Chromium is Debian's
``/usr/bin/chromium``; Playwright never downloads a browser here.

Refresh the README's screenshots with::

    python -m tests.browser_helpers --screenshots [--model DIR]

which serves the shipped model (or ``--model``), or, while none is shipped, a random export with
the ``cpu`` preset's network, and writes ``docs/studio_generate.png``,
``docs/studio_interpolation.png``, ``docs/studio_colors.png`` (with a conditional model) and
``docs/studio_recolor.png`` (with the shipped segmenter, or a translator: ``--translator`` or
the shipped one).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from config import COLOR_CLASSIFIER, PRESETS, REPO_ROOT, NetworkConfig  # noqa: E402
from progan import colors  # noqa: E402
from progan.export import load_generator, resolve_export_dir, write_random_export  # noqa: E402
from progan.latent import seed_latents  # noqa: E402

# 5x3, 10x6, 20x12, 40x24: every stage renders in milliseconds.
NETWORK = NetworkConfig(base=(3, 5), latent_dim=16, channels=(16, 16, 12, 8))
STAGES = 4
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROTOTYPE_SEEDS = (101, 102, 103, 104)


def make_model(
    folder: Path, prototypes: bool = False, network: NetworkConfig = NETWORK, stages: int = STAGES
) -> Path:
    """A random export in ``folder``, with color prototypes beside it when asked."""
    path = write_random_export(folder, network, stages)
    if prototypes:
        add_prototypes(path)
    return path


def add_prototypes(folder: Path, success_seeds: int = 16) -> Path:
    """Write ``prototypes.json`` for the export in ``folder`` with :mod:`progan.colors`' own code.

    A network with random weights draws nearly a single color, so ``compute_prototypes`` finds
    no latent of the others; each prototype is therefore one fixed seed's latent instead. The
    success rate is measured and the file written by the functions the command line uses, so
    the studio reads exactly what ``python -m progan prototypes`` would have written.
    """
    g = load_generator(folder)
    vectors = dict(zip(colors.CLASSES, seed_latents(PROTOTYPE_SEEDS, g.latent_dim), strict=True))
    found = colors.Prototypes(
        res=g.resolutions[-1],
        n=1,
        vectors=vectors,
        counts=dict.fromkeys(colors.CLASSES, 1),
        sample_seeds=range(PROTOTYPE_SEEDS[0], PROTOTYPE_SEEDS[-1] + 1),
        sampled_classes={name: 0 for name in (*colors.CLASSES, colors.NONE)},
        classifier=dataclasses.asdict(COLOR_CLASSIFIER),
    )
    return colors.save_prototypes(g, colors.with_success(g, found, count=success_seeds))


class LiveServer:
    """The studio served by waitress on a free port of 127.0.0.1, in a daemon thread.

    ``stop`` runs the shutdown inside the server's own event loop (through its trigger), so
    no socket is closed under a ``select`` that is watching it.
    """

    def __init__(self, app: Any, threads: int = 4) -> None:
        import waitress

        self._map: dict = {}
        self.server = waitress.create_server(
            app, host="127.0.0.1", port=0, threads=threads, map=self._map
        )
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self._thread = threading.Thread(target=self.server.run, name="studio-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        from waitress import wasyncore

        self.server.task_dispatcher.shutdown()
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self._map))
        self._thread.join(timeout=10)


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless; Playwright's own browser builds are never fetched."""
    if not Path(CHROMIUM).is_file():
        raise RuntimeError(f"{CHROMIUM} is missing; install it with: apt-get install -y chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def wait_for_image(page: Any, selector: str) -> dict[str, int]:
    """Wait until the <img> has finished loading a picture; its natural size."""
    page.wait_for_function(
        """sel => { const img = document.querySelector(sel);
                    return img && img.getAttribute('src') && img.complete && img.naturalWidth > 0
                        && img.closest('.image-frame').getAttribute('aria-busy') === 'false'; }""",
        arg=selector,
    )
    return page.eval_on_selector(
        selector, "img => ({width: img.naturalWidth, height: img.naturalHeight})"
    )


# A held-out photo of the laundry set (the translator never saw it), for the recolor page.
RECOLOR_PHOTO = REPO_ROOT / "data" / "laundry" / "images" / "01900.jpg"


MASK_FREE = ("segmenter", "translator")


def take_screenshots(
    url: str, out: Path, width: int = 1280, height: int = 720, photo: Path = RECOLOR_PHOTO
) -> list[Path]:
    """The pages in a set state, as a person first sees them, saved as PNG in ``out`` (the
    recolor page when the studio has a segmenter or a translator and ``photo`` exists)."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "studio_generate.png", out / "studio_interpolation.png"]
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(f"{url}/?seed=42&view=single")
        wait_for_image(page, "#result")
        page.screenshot(path=paths[0], full_page=True)
        page.goto(f"{url}/interpolation?a=42&b=1234&t=0.35&frames=30&delay=80")
        wait_for_image(page, "#middle")
        page.click("#make-gif")
        wait_for_image(page, "#gif")
        page.screenshot(path=paths[1], full_page=True)
        models = page.request.get(f"{url}/api/model").json()["models"]
        conditional = next((m["name"] for m in models if m["conditional"]), None)
        if conditional:  # one seed in every color, as the conditional model draws it
            paths.append(out / "studio_colors.png")
            page.goto(f"{url}/?model={conditional}&seed=42&view=colors")
            page.wait_for_function(
                "(imgs => imgs.length > 1 && imgs.every(i => i.complete && i.naturalWidth))"
                "([...document.querySelectorAll('#colors img')])"
            )
            page.screenshot(path=paths[-1], full_page=True)
        if not photo.is_file():
            print(f"no recolor screenshot: {photo} is missing (python -m progan.datasets laundry)")
        elif any(page.request.get(f"{url}/api/{name}").json()["available"] for name in MASK_FREE):
            paths.append(out / "studio_recolor.png")  # predicted masks unless there is no segmenter
            page.goto(f"{url}/recolor")
            page.wait_for_function("!document.querySelector('#recolor').disabled")
            page.set_input_files("#photo", str(photo))
            page.select_option("#color", "blue")
            page.click("#recolor")
            wait_for_image(page, "#after")
            page.fill("#split", "30")  # most of the item in the recolor's half
            page.screenshot(path=paths[-1], full_page=True)
        browser.close()
    return paths


def screenshot_model(model: str | None, scratch: Path) -> Path:
    """``model``, else the shipped model, else a random export with the cpu preset's network."""
    if model is not None:
        return Path(model)
    try:
        return resolve_export_dir(None)
    except colors.ProganError:
        print("no shipped model yet: the screenshots show a random cpu-preset network")
        return make_model(scratch / "random", network=PRESETS["cpu"].network, stages=5)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.browser_helpers", description=__doc__)
    parser.add_argument("--screenshots", action="store_true", help="write the README screenshots")
    parser.add_argument("--model", metavar="DIR", help="default: the shipped model")
    parser.add_argument("--out", default=str(REPO_ROOT / "docs"), help="default: %(default)s")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels")
    parser.add_argument("--translator", metavar="DIR", help="default: the shipped one, if any")
    args = parser.parse_args(argv)
    if not args.screenshots:
        parser.error("nothing to do; pass --screenshots")
    from app import create_app

    with tempfile.TemporaryDirectory() as scratch:
        model = screenshot_model(args.model, Path(scratch))
        app = create_app(
            {
                "MODEL_PATH": str(model),
                "SHIPPED_MODELS": args.model is None,
                "TRANSLATOR_PATH": args.translator,
            }
        )
        with LiveServer(app) as server:
            for path in take_screenshots(server.url, Path(args.out), width=args.width):
                print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
