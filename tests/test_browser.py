"""The two pages in a real browser: Debian's Chromium driven by Playwright, against the real app
served by waitress on a free local port.

Each test is what a person does (type a seed, click, drag the slider) and checks what they would
see: the image's natural size, that it changed, the error text in the page. Tests on good input
also fail on any console error or uncaught exception in the page.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from PIL import Image, ImageSequence
from playwright.sync_api import sync_playwright

from app import create_app
from tests.browser_helpers import NETWORK, LiveServer, launch_chromium, make_model, wait_for_image

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Every input, select and button a person cannot name: no label, no aria-label, no text.
UNLABELED = """() => [...document.querySelectorAll('input, select, button')]
    .filter(el => el.type !== 'hidden')
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.textContent.trim())
    .map(el => el.id || el.outerHTML)"""
# The image's pixels, read through a canvas, so "the image changed" means the picture did.
PIXELS = """sel => { const img = document.querySelector(sel);
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d'); ctx.drawImage(img, 0, 0);
  return Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data); }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    model = make_model(tmp_path_factory.mktemp("browser") / "model", prototypes=True)
    with LiveServer(create_app({"MODEL_PATH": str(model)})) as live:
        yield live.url


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


class Tab:
    """A fresh page and what its console reported."""

    def __init__(self, browser, url: str, viewport: dict[str, int] = DESKTOP) -> None:
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.url = url
        self.problems: list[str] = []
        self.page.on("pageerror", lambda err: self.problems.append(f"uncaught: {err}"))
        self.page.on(
            "console",
            lambda msg: self.problems.append(msg.text) if msg.type == "error" else None,
        )

    def open(self, path: str) -> None:
        self.page.goto(self.url + path)
        # The form is filled from /api/model; until then there is nothing to click.
        self.page.wait_for_function("document.querySelector('#res').options.length > 0")


@pytest.fixture
def tab(chromium, server) -> Iterator[Tab]:
    opened = Tab(chromium, server)
    yield opened
    opened.context.close()


def query(tab: Tab) -> str:
    return tab.page.evaluate("window.location.search")


def wait_for_new_image(tab: Tab, selector: str, old_src: str) -> dict[str, int]:
    tab.page.wait_for_function(
        "([sel, old]) => document.querySelector(sel).src !== old", arg=[selector, old_src]
    )
    return wait_for_image(tab.page, selector)


def src(tab: Tab, selector: str) -> str:
    return tab.page.eval_on_selector(selector, "img => img.src")


def route(url: str) -> str:
    """The route an image URL names, without the model version the pages add to it."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "v"]
    return parts.path + (f"?{urlencode(query)}" if query else "")


# Generate page -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_models(tmp_path_factory) -> Iterator[str]:
    """An unconditional model with prototypes (the default) and a conditional one."""
    root = tmp_path_factory.mktemp("two")
    plain = make_model(root / "plain", prototypes=True)
    classes = ("blue", "green", "original", "red", "white")
    conditional = make_model(root / "cond", network=dataclasses.replace(NETWORK, classes=classes))
    with LiveServer(create_app({"MODEL_PATH": [str(plain), str(conditional)]})) as live:
        yield live.url


def test_pick_the_conditional_model_and_see_seed_42_in_every_color(chromium, two_models) -> None:
    tab = Tab(chromium, two_models)
    try:
        tab.open("/?res=40x24&seed=42")
        page = tab.page
        wait_for_image(page, "#result")
        assert route(src(tab, "#result")) == "/generate/40x24/42/original"
        with page.expect_navigation():
            page.select_option("#model-select", "cond")
        page.wait_for_function("document.querySelector('#res').options.length > 0")
        assert "model=cond" in query(tab) and page.input_value("#seed") == "42"
        assert "(by label)" in page.inner_text("#model-select")
        page.click("label[for=view-colors]")  # the one click
        page.wait_for_function(
            "[...document.querySelectorAll('#colors img')].length === 5 && "
            "[...document.querySelectorAll('#colors img')].every(i => i.complete && i.naturalWidth)"
        )
        routes = page.locator("#colors img").evaluate_all("imgs => imgs.map(i => i.src)")
        assert [route(url) for url in routes] == [
            f"/generate/40x24/42/{color}?model=cond"
            for color in ("original", "red", "green", "blue", "white")
        ]
        labels = page.locator("#colors .seed-label").all_inner_texts()
        assert labels == ["original", "red", "green", "blue", "white"]
        pixels = [page.evaluate(PIXELS, f"#colors .col:nth-child({i}) img") for i in (1, 2)]
        assert pixels[0] != pixels[1]
        assert "view=colors" in query(tab) and "model=cond" in query(tab)
        assert "class label" in page.inner_text("#color-help")
        assert tab.problems == []
    finally:
        tab.context.close()


def test_recolor_a_photo_beside_its_recolor_then_download_it(chromium, tmp_path_factory) -> None:
    from training_helpers import make_translator

    root = tmp_path_factory.mktemp("recolor")
    translator = make_translator(root)
    config = {"MODEL_PATH": str(make_model(root / "model")), "TRANSLATOR_PATH": str(translator)}
    photo = root / "belt.jpg"
    Image.new("RGB", (320, 180), (200, 200, 190)).save(photo)
    junk = root / "notes.png"
    junk.write_text("not a photo")
    with LiveServer(create_app(config)) as live:
        tab = Tab(chromium, live.url)
        try:
            page = tab.page
            page.goto(live.url + "/recolor")
            page.wait_for_function("!document.querySelector('#recolor').disabled")
            page.select_option("#method", "cyclegan")
            assert "original → red" in page.inner_text("#method-help")
            assert page.is_disabled("#color") and page.input_value("#color") == "red"
            assert page.evaluate(UNLABELED) == []
            page.set_input_files("#photo", str(photo))
            page.click("#recolor")
            wait_for_image(page, "#after")
            size = page.evaluate("[...'#before #after'.split(' ')].map(s => "
                                 "document.querySelector(s).naturalWidth)")  # fmt: skip
            assert size == [320, 80]  # the upload as sent, the translation at 80x48
            assert page.get_attribute("#download", "download") == "belt-red.png"
            assert page.get_attribute("#download", "aria-disabled") == "false"
            with page.expect_download() as download:
                page.click("#download")
            assert download.value.suggested_filename == "belt-red.png"
            assert tab.problems == []
            page.set_input_files("#photo", str(junk))
            page.click("#recolor")
            page.wait_for_function("!document.querySelector('#error').classList.contains('d-none')")
            assert "JPEG or PNG" in page.inner_text("#error")
        finally:
            tab.context.close()


def test_recolor_by_predicted_mask_at_full_size_with_mask_and_comparison(
    chromium, tmp_path_factory
) -> None:
    """The default method on a laundry photo: the recolor comes back at the photo's own size,
    the predicted mask can be laid over it and downloaded, the slider moves the cut between
    before and after, and another color of the same photo is one more click."""
    from training_helpers import make_segmenter

    root = tmp_path_factory.mktemp("segment")
    segmenter = make_segmenter(root)
    config = {"MODEL_PATH": str(make_model(root / "model")), "SEGMENTER_PATH": str(segmenter)}
    photo = root / "belt.jpg"
    Image.open(root / "data" / "laundry" / "images" / "00009.jpg").resize((320, 180)).save(photo)
    with LiveServer(create_app(config | {"TRANSLATOR_PATH": str(root)})) as live:
        tab = Tab(chromium, live.url)
        try:
            page = tab.page
            page.goto(live.url + "/recolor")
            page.wait_for_function("!document.querySelector('#recolor').disabled")
            assert page.input_value("#method") == "segment"
            assert page.is_disabled("#method option[value=cyclegan]")  # no translator here
            assert "64 × 36" in page.inner_text("#method-help")
            assert page.evaluate(UNLABELED) == []
            page.set_input_files("#photo", str(photo))
            page.select_option("#color", "green")
            page.click("#recolor")
            wait_for_image(page, "#after")
            assert page.evaluate("document.querySelector('#after').naturalWidth") == 320
            assert "320 × 180" in page.inner_text("#after-label")
            assert page.get_attribute("#download", "download") == "belt-green.png"
            assert page.get_attribute("#download-mask", "download") == "belt-mask.png"
            assert not page.is_visible("#overlay")
            page.check("#show-mask")
            assert page.is_visible("#overlay")
            page.fill("#split", "20")
            assert (
                page.evaluate("getComputedStyle(document.querySelector('#after')).clipPath")
                == "inset(0px 0px 0px 20%)"
            )
            with page.expect_download() as download:
                page.click("#download-mask")
            assert download.value.suggested_filename == "belt-mask.png"
            page.select_option("#color", "blue")
            page.click("#recolor")
            page.wait_for_function(
                "document.querySelector('#download').download === 'belt-blue.png'"
            )
            assert tab.problems == []
        finally:
            tab.context.close()


def ask_a_busy_studio(page, button: str, asked: list[str]) -> str:
    """Click ``button`` of a studio whose heavy slots are all taken: the page says so while it
    asks again a second later, five times, then gives up with the message; returns what it
    said while waiting."""
    page.click(button)
    error = page.locator("#error")
    error.wait_for(state="visible")
    said = error.inner_text()
    assert "asking again in 1 s" in said
    page.wait_for_function(f"document.querySelector('{button}').disabled === false")
    assert len(asked) == 6  # the first request and five more, a second apart
    assert "asking again" not in error.inner_text() and "busy" in error.inner_text()
    return said


def test_a_busy_studio_says_so_on_the_recolor_page_and_asks_again(chromium, tmp_path) -> None:
    from training_helpers import make_translator

    from config import StudioLimits

    translator = make_translator(tmp_path)
    config = {"MODEL_PATH": str(make_model(tmp_path / "model")), "TRANSLATOR_PATH": str(translator)}
    photo = tmp_path / "belt.jpg"
    Image.new("RGB", (320, 180), (200, 200, 190)).save(photo)  # 57,600 pixels: heavy
    limits = StudioLimits(heavy_slots=0, retry_after_s=1)  # every photo finds the budget full
    with LiveServer(create_app(config | {"STUDIO_LIMITS": limits})) as live:
        tab = Tab(chromium, live.url)
        try:
            page = tab.page
            posts: list[str] = []
            page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
            page.goto(live.url + "/recolor")
            page.wait_for_function("!document.querySelector('#recolor').disabled")
            page.set_input_files("#photo", str(photo))
            said = ask_a_busy_studio(page, "#recolor", posts)
            assert "busy with other animations or photos" in said
        finally:
            tab.context.close()


def test_browsing_stops_at_the_servers_first_and_last_seed(tab: Tab) -> None:
    tab.open("/?res=20x12&seed=4294967295")  # the server's largest seed (progan.latent)
    page = tab.page
    wait_for_image(page, "#result")
    assert page.is_disabled("#next") and not page.is_disabled("#prev")
    page.click("#prev")
    wait_for_image(page, "#result")
    assert page.input_value("#seed") == "4294967294" and not page.is_disabled("#next")
    page.fill("#seed", "0")
    page.click("#generate")
    wait_for_image(page, "#result")
    assert page.is_disabled("#prev")


def test_pages_of_a_model_whose_classes_are_not_all_colors(chromium, tmp_path) -> None:
    """Two colors and no "original": the interpolation page's ends draw its first class;
    classes that are no color at all: the generate page says it cannot show the model."""
    import dataclasses

    from config import NetworkConfig
    from tests.browser_helpers import NETWORK

    def with_classes(*classes: str) -> NetworkConfig:
        return dataclasses.replace(NETWORK, classes=classes)

    two = make_model(tmp_path / "two", network=with_classes("red", "white"))
    pets = make_model(tmp_path / "pets", network=with_classes("cat", "dog"))
    config = {"MODEL_PATH": [str(two), str(pets)]}
    with LiveServer(create_app(config)) as live:
        tab = Tab(chromium, live.url)
        try:
            tab.open("/interpolation?res=20x12&a=3&b=9")
            for image in ("#end-a", "#end-b", "#middle"):
                wait_for_image(tab.page, image)
            assert route(src(tab, "#end-a")) == "/generate/20x12/3/red"
            assert tab.page.locator("#error").is_hidden()
            tab.open("/?model=pets")
            error = tab.page.locator("#error")
            error.wait_for(state="visible")
            assert "its classes (cat, dog) are none of the colors" in error.inner_text()
            assert tab.page.is_disabled("#generate")
            tab.open("/interpolation?model=pets")
            error.wait_for(state="visible")
            assert "its classes (cat, dog) are no colors" in error.inner_text()
            assert tab.page.is_disabled("#make-gif")
        finally:
            tab.context.close()


def test_a_grey_models_page_offers_no_colors_and_shows_its_grey_image(chromium, tmp_path) -> None:
    grey = make_model(tmp_path / "grey", network=dataclasses.replace(NETWORK, image_channels=1))
    with LiveServer(create_app({"MODEL_PATH": str(grey)})) as live:
        tab = Tab(chromium, live.url)
        try:
            tab.open("/?res=40x24&seed=5")
            page = tab.page
            options = page.eval_on_selector_all(
                "#color option", "os => os.map(o => [o.value, o.disabled, o.textContent])"
            )
            assert [value for value, disabled, _ in options if not disabled] == ["original"]
            assert all("a grey model" in text for value, _, text in options if value != "original")
            assert "grey images" in page.inner_text("#color-help")
            assert wait_for_image(page, "#result") == {"width": 40, "height": 24}
            pixels = page.evaluate(PIXELS, "#result")
            red, green, blue = pixels[0::4], pixels[1::4], pixels[2::4]
            assert red == green == blue and len(set(red)) > 1  # grey, and not one flat tone
            assert tab.problems == []
        finally:
            tab.context.close()


def test_generate_shows_the_seed_at_its_natural_size(tab: Tab) -> None:
    tab.open("/")
    page = tab.page
    page.select_option("#res", "20x12")
    page.fill("#seed", "7")
    before = src(tab, "#result")
    page.click("#generate")
    assert wait_for_new_image(tab, "#result", before) == {"width": 20, "height": 12}
    assert route(src(tab, "#result")) == "/generate/20x12/7/original"
    version = page.request.get(tab.url + "/api/model").json()["version"]
    assert src(tab, "#result").endswith(f"?v={version}")
    assert "seed 7" in page.inner_text("#caption")
    download = page.locator("#download")
    assert download.get_attribute("download") == "seed7-20x12-original.png"
    assert route(download.get_attribute("href")) == "/generate/20x12/7/original"
    assert query(tab) == "?res=20x12&seed=7&color=original&view=single"
    # Shown enlarged, with hard pixel edges.
    box = page.locator("#result").bounding_box()
    assert box["width"] >= 300
    assert page.eval_on_selector("#result", "i => getComputedStyle(i).imageRendering") == (
        "pixelated"
    )
    assert tab.problems == []


class HeldAnswers:
    """Requests whose URL holds one of ``parts`` wait in the browser until released: a slow
    answer that arrives after the person has moved on."""

    def __init__(self, page, *parts: str) -> None:
        self.page, self.held = page, []
        page.route(lambda url: any(part in url for part in parts), lambda r: self.held.append(r))

    def wait_for(self, count: int) -> None:
        for _ in range(400):  # 20 s, the tab's timeout
            if len(self.held) >= count:
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"{len(self.held)} of {count} requests came")

    def release(self, failure: str | None = None) -> None:
        """Let the server answer every held request (or answer ``failure`` with a 500), and
        wait until the page has read the answers."""
        for held in self.held:
            url = held.request.url
            with self.page.expect_event("requestfinished", lambda r, url=url: r.url == url):
                if failure is None:
                    held.continue_()
                else:
                    held.fulfill(status=500, content_type="text/plain", body=failure)
        self.page.wait_for_timeout(1000)  # the page's handlers run after the answer is read


def test_a_slow_answer_for_an_earlier_seed_never_replaces_the_newer_one(tab: Tab) -> None:
    """Seed 5 and the bad seed "abc" answer late, after seed 6 is shown: neither the older
    picture nor the older error may take the page back."""
    tab.open("/?res=20x12&seed=4")
    page = tab.page
    wait_for_image(page, "#result")
    slow = HeldAnswers(page, "/generate/20x12/5/", "/generate/20x12/abc/")
    for seed in ("5", "abc"):
        page.fill("#seed", seed)
        page.click("#generate")
    slow.wait_for(2)
    page.fill("#seed", "6")
    page.click("#generate")
    page.wait_for_function("document.querySelector('#result').src.includes('/20x12/6/')")
    wait_for_image(page, "#result")
    slow.release()
    assert route(src(tab, "#result")) == "/generate/20x12/6/original"
    assert page.inner_text("#caption") == "seed 6 · 20x12 · original"
    assert page.locator("#error").is_hidden()
    assert page.locator("#single .loading").is_hidden()
    assert route(page.locator("#download").get_attribute("href")) == "/generate/20x12/6/original"
    assert query(tab) == "?res=20x12&seed=6&color=original&view=single"
    assert [p for p in tab.problems if "status of 400" not in p] == []  # abc's, in the console


def test_a_grid_cell_failing_late_stays_out_of_the_single_view_chosen_since(tab: Tab) -> None:
    tab.open("/?res=10x6&seed=30")
    page = tab.page
    wait_for_image(page, "#result")
    slow = HeldAnswers(page, "/generate/10x6/33/")
    page.click("label[for=view-grid]")  # seeds 30-37, one of them slow
    slow.wait_for(1)
    page.click("label[for=view-single]")
    wait_for_image(page, "#result")
    slow.release(failure="the server failed on seed 33")
    assert page.locator("#grid").is_hidden() and page.locator("#single").is_visible()
    assert page.locator("#error").is_hidden()
    assert page.inner_text("#caption") == "seed 30 · 10x6 · original"
    assert page.inner_text("#details") == "10 × 6 pixels, shown enlarged"


def test_a_single_image_failing_late_stays_out_of_the_grid_chosen_since(tab: Tab) -> None:
    """The bad seed "abc" answers late, after the person typed 12 and chose the grid: the
    single view's error must not land on the grid (the image element never changed, so only
    the page's own request count tells the answer is old)."""
    tab.open("/?res=10x6&seed=30")
    page = tab.page
    wait_for_image(page, "#result")
    slow = HeldAnswers(page, "/generate/10x6/abc/")
    page.fill("#seed", "abc")
    page.click("#generate")
    slow.wait_for(1)
    page.fill("#seed", "12")
    page.click("label[for=view-grid]")  # seeds 12-19
    page.wait_for_function("document.querySelectorAll('#grid img[src]').length === 8")
    slow.release()
    assert page.locator("#grid").is_visible() and page.locator("#error").is_hidden()
    assert page.inner_text("#caption") == "seeds 12–19 · 10x6 · original"
    assert page.inner_text("#details") == "Choose an image to open it alone."
    assert [p for p in tab.problems if "status of 400" not in p] == []


def test_changing_the_color_changes_the_image(tab: Tab) -> None:
    tab.open("/?res=40x24&seed=5")
    page = tab.page
    wait_for_image(page, "#result")
    original = page.evaluate(PIXELS, "#result")
    before = src(tab, "#result")
    page.select_option("#color", "red")
    assert wait_for_new_image(tab, "#result", before) == {"width": 40, "height": 24}
    assert route(src(tab, "#result")) == "/generate/40x24/5/red"
    assert page.evaluate(PIXELS, "#result") != original
    assert "color=red" in query(tab)
    assert tab.problems == []


def test_random_keeps_the_seed_visible(tab: Tab) -> None:
    tab.open("/?res=10x6&seed=1")
    page = tab.page
    wait_for_image(page, "#result")
    page.click("#random")
    page.wait_for_function("document.querySelector('#seed').value !== '1'")
    seed = page.input_value("#seed")
    assert seed.isdigit() and 0 <= int(seed) < 2**32
    wait_for_image(page, "#result")
    assert route(src(tab, "#result")) == f"/generate/10x6/{seed}/original"
    assert tab.problems == []


def test_grid_view_comes_back_from_its_url(tab: Tab) -> None:
    tab.open("/?res=10x6&seed=123&color=blue&view=grid")
    page = tab.page
    for reload in (False, True):
        if reload:
            page.reload()
        cells = page.locator("#grid img")
        page.wait_for_function(
            "[...document.querySelectorAll('#grid img')].length === 8 && "
            "[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth)"
        )
        sizes = cells.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
        assert sizes == [[10, 6]] * 8
        labels = page.locator("#grid .seed-label").all_inner_texts()
        assert labels == [f"seed {seed}" for seed in range(123, 131)]
        assert page.input_value("#color") == "blue"
    # Choosing a cell opens that seed alone.
    page.locator("#grid button").nth(3).click()
    wait_for_image(page, "#result")
    assert page.input_value("#seed") == "126"
    assert route(src(tab, "#result")) == "/generate/10x6/126/blue"
    assert "view=single" in query(tab)
    assert tab.problems == []


@pytest.mark.parametrize(
    "seed, fragment",
    [
        ("4294967296", "4294967296 must be a whole number from 0 to 4294967295"),
        ("abc", "'abc' must be a whole number from 0 to"),
    ],
)
def test_a_bad_seed_shows_the_servers_message(tab: Tab, seed: str, fragment: str) -> None:
    tab.open("/?res=40x24&seed=3")
    page = tab.page
    wait_for_image(page, "#result")
    page.fill("#seed", seed)
    page.click("#generate")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert fragment in error.inner_text()
    assert page.locator("#download").get_attribute("aria-disabled") == "true"
    # Fixing the seed clears the message.
    page.fill("#seed", "3")
    page.click("#generate")
    error.wait_for(state="hidden")
    wait_for_image(page, "#result")


# Interpolation page ------------------------------------------------------------------------------


def test_slider_moves_the_middle_image(tab: Tab) -> None:
    tab.open("/interpolation?res=40x24&a=3&b=9&t=0.5")
    page = tab.page
    for selector in ("#end-a", "#end-b", "#middle"):
        assert wait_for_image(page, selector) == {"width": 40, "height": 24}
    middle = page.evaluate(PIXELS, "#middle")
    assert middle not in (page.evaluate(PIXELS, "#end-a"), page.evaluate(PIXELS, "#end-b"))

    # Drag the handle to the right end: the middle image becomes seed B's.
    before = src(tab, "#middle")
    box = page.locator("#t").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] + 20, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    wait_for_new_image(tab, "#middle", before)
    page.wait_for_function(
        "new URL(document.querySelector('#middle').src).pathname.endsWith('/1.00')"
    )
    wait_for_image(page, "#middle")
    assert page.evaluate(PIXELS, "#middle") == page.evaluate(PIXELS, "#end-b")
    assert page.inner_text("#t-value") == "1.00"
    assert "t=1.00" in query(tab)

    # The keyboard moves it too, one step at a time.
    page.focus("#t")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "new URL(document.querySelector('#middle').src).pathname.endsWith('/0.97')"
    )
    wait_for_image(page, "#middle")
    assert page.evaluate(PIXELS, "#middle") not in (middle, page.evaluate(PIXELS, "#end-b"))
    assert tab.problems == []


def test_make_gif_shows_and_offers_it(tab: Tab) -> None:
    tab.open("/interpolation?res=20x12&a=3&b=9")
    page = tab.page
    wait_for_image(page, "#middle")
    page.fill("#frames", "5")
    page.fill("#delay", "100")
    page.click("#make-gif")
    assert wait_for_image(page, "#gif") == {"width": 20, "height": 12}
    link = page.locator("#download-gif")
    href = link.get_attribute("href")
    assert route(href) == "/interpolate/20x12/3/9.gif?frames=5&delay=100"
    assert link.get_attribute("download") == "seed3-seed9-20x12-5f.gif"
    response = page.request.get(tab.url + href)
    with Image.open(io.BytesIO(response.body())) as gif:
        frames = list(ImageSequence.Iterator(gif))
        assert len(frames) == 5 and all(f.info["duration"] == 100 for f in frames)
    assert "frames=5&delay=100" in query(tab)
    assert tab.problems == []


def test_bad_gif_frames_show_the_servers_message(tab: Tab) -> None:
    tab.open("/interpolation?res=20x12&a=3&b=9")
    page = tab.page
    wait_for_image(page, "#middle")
    page.fill("#frames", "500")
    page.click("#make-gif")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert "frames must be an integer from 2 to 120, got 500" in error.inner_text()
    assert page.locator("#gif-box").is_hidden()


def test_a_bad_seed_is_asked_once_and_drops_the_earlier_gif(tab: Tab) -> None:
    tab.open("/interpolation?res=20x12&a=3&b=9")
    page = tab.page
    wait_for_image(page, "#middle")
    page.fill("#frames", "4")
    page.click("#make-gif")
    wait_for_image(page, "#gif")
    assert page.locator("#download-gif").get_attribute("href")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/abc" in r.url else None)
    page.fill("#seed-a", "abc")
    page.locator("#seed-a").dispatch_event("change")
    page.locator("#error").wait_for(state="visible")
    page.wait_for_timeout(500)  # room for a second request, were one sent
    routes = sorted(route(url) for url in asked)
    assert routes == ["/generate/20x12/abc/original", "/interpolate/20x12/abc/9/0.50"]
    assert page.locator("#gif-box").is_hidden()
    link = page.locator("#download-gif")
    assert link.get_attribute("href") is None and link.get_attribute("aria-disabled") == "true"


def test_a_busy_studio_says_so_and_the_page_asks_again(chromium, tmp_path) -> None:
    from config import StudioLimits

    model = make_model(tmp_path / "model")
    limits = StudioLimits(heavy_slots=0, retry_after_s=1)  # every GIF finds the budget full
    with LiveServer(create_app({"MODEL_PATH": str(model), "STUDIO_LIMITS": limits})) as live:
        tab = Tab(chromium, live.url)
        try:
            tab.open("/interpolation?res=40x24&a=3&b=9&frames=40")  # 38,400 pixels: heavy
            page = tab.page
            wait_for_image(page, "#middle")
            asked: list[str] = []
            page.on("request", lambda r: asked.append(r.url) if ".gif" in r.url else None)
            assert "busy with other animations" in ask_a_busy_studio(page, "#make-gif", asked)
        finally:
            tab.context.close()


# Both pages --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, image", [("/?seed=8", "#result"), ("/interpolation", "#middle")])
def test_pages_fit_a_phone(chromium, server, path: str, image: str, tmp_path: Path) -> None:
    tab = Tab(chromium, server, viewport=PHONE)
    try:
        tab.open(path)
        wait_for_image(tab.page, image)
        assert tab.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert tab.page.locator(image).bounding_box()["width"] >= 150
        assert tab.problems == []
    finally:
        tab.context.close()


@pytest.mark.parametrize("path", ["/", "/interpolation"])
def test_every_control_has_a_label(tab: Tab, path: str) -> None:
    tab.open(path)
    assert tab.page.evaluate(UNLABELED) == []
