"""Seeds, interpolation, GIF and PNG encoding of :mod:`progan.latent`, on a stub generator."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from config import LatentLimits
from progan import latent
from progan.errors import ProganError
from tests.stubs import LinearColorGenerator

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def g(tmp_path: Path) -> LinearColorGenerator:
    return LinearColorGenerator(tmp_path)


# Seeds -------------------------------------------------------------------------------------------


def test_seed_recipe_is_frozen() -> None:
    # The documented recipe, and its first numbers written out: a change of recipe (or of
    # NumPy's legacy stream) changes every seed's picture, so it must fail loudly here.
    z = latent.seed_latents([0, 2**32 - 1], 512)
    assert z.dtype == np.float32 and z.shape == (2, 512)
    expected = np.random.RandomState(0).standard_normal(512).astype(np.float32)
    np.testing.assert_array_equal(z[0], expected)
    np.testing.assert_array_equal(z[0, :4], np.float32([1.7640524, 0.4001572, 0.978738, 2.2408931]))
    # A smaller latent is a prefix of a larger one.
    np.testing.assert_array_equal(
        latent.seed_latents(7, 16)[0], latent.seed_latents(7, 512)[0, :16]
    )


def test_seed_latents_equal_in_another_process() -> None:
    seeds = [0, 1, 42, 2**31, 2**32 - 1]
    code = (
        "import sys; from progan.latent import seed_latents; "
        f"sys.stdout.buffer.write(seed_latents({seeds}, 128).tobytes())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, check=True
    ).stdout
    assert other == latent.seed_latents(seeds, 128).tobytes()


def test_different_seeds_give_different_latents() -> None:
    z = latent.seed_latents(range(200), 64).astype(np.float64)
    assert len({row.tobytes() for row in z}) == 200
    # Independent standard normals: small correlations, unit spread.
    u = z / np.linalg.norm(z, axis=1, keepdims=True)
    cosines = (u @ u.T)[np.triu_indices(200, k=1)]
    assert np.abs(cosines).max() < 0.6
    assert abs(z.std() - 1) < 0.05 and abs(z.mean()) < 0.05


@pytest.mark.parametrize("seed", [-1, 2**32, 1.0, True, "3", None])
def test_bad_seeds_are_refused(seed: object) -> None:
    with pytest.raises(ProganError, match="seed"):
        latent.seed_latents([seed], 8)


def test_bad_latent_dim_is_refused() -> None:
    with pytest.raises(ProganError, match="latent_dim"):
        latent.seed_latents([1], 0)


def test_parse_seeds() -> None:
    assert latent.parse_seeds("42") == [42]
    assert latent.parse_seeds("0-3") == [0, 1, 2, 3]
    assert latent.parse_seeds("1,2,7") == [1, 2, 7]
    assert latent.parse_seeds(["3", "9-11,5"]) == [3, 9, 10, 11, 5]
    assert latent.parse_seeds(" 4294967295 ") == [2**32 - 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no seeds"),
        ("5-2", "backwards"),
        ("a", "not a number"),
        ("-1", "not a number"),
        ("1-2-3", "not a number"),
        ("4294967296", "must be a whole number from 0 to 4294967295"),
        ("0-4000000000", "more than 256"),
    ],
)
def test_parse_seeds_errors(text: str, message: str) -> None:
    with pytest.raises(ProganError, match=message):
        latent.parse_seeds(text)


def test_parse_seeds_counts_the_limit_over_all_parts() -> None:
    limits = LatentLimits(max_seeds=5)
    assert latent.parse_seeds("0-2,3,4", limits) == [0, 1, 2, 3, 4]
    with pytest.raises(ProganError, match="more than 5"):
        latent.parse_seeds("0-2,3-5", limits)


# Interpolation -----------------------------------------------------------------------------------


def test_frame_times() -> None:
    np.testing.assert_array_equal(latent.frame_times(5), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(latent.frame_times(2), [0, 1])
    with pytest.raises(ProganError, match="at least 2"):
        latent.frame_times(1)


def test_lerp_matches_the_formula() -> None:
    z0, z1 = latent.seed_latents([3, 4], 32).astype(np.float64)
    v = latent.interpolation_latents(z0, z1, 9, "lerp")
    for t, row in zip(latent.frame_times(9), v, strict=True):
        np.testing.assert_allclose(row, z0 + t * (z1 - z0), rtol=0, atol=1e-6)
    assert v.dtype == np.float32


def test_slerp_endpoints_are_the_inputs() -> None:
    z0, z1 = latent.seed_latents([5, 6], 128)
    v = latent.interpolation_latents(z0, z1, 11)
    np.testing.assert_array_equal(v[0], z0)
    np.testing.assert_array_equal(v[-1], z1)


def test_slerp_stays_on_the_arc_at_an_even_pace() -> None:
    z0, z1 = latent.seed_latents([5, 6], 128).astype(np.float64)
    ts = latent.frame_times(11)
    v = latent.slerp(z0, z1, ts).astype(np.float64)
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    omega = np.arccos(z0 @ z1 / (n0 * n1))
    # Length moves linearly between the two lengths...
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), (1 - ts) * n0 + ts * n1, rtol=1e-6)
    # ...the direction turns by t·ω from z0 and (1-t)·ω from z1: equal angle steps...
    angle0 = np.arccos(np.clip(v @ z0 / (np.linalg.norm(v, axis=1) * n0), -1, 1))
    angle1 = np.arccos(np.clip(v @ z1 / (np.linalg.norm(v, axis=1) * n1), -1, 1))
    np.testing.assert_allclose(angle0, ts * omega, atol=1e-5)
    np.testing.assert_allclose(angle1, (1 - ts) * omega, atol=1e-5)
    # ...and every frame lies in the plane of z0 and z1.
    basis, _ = np.linalg.qr(np.stack([z0, z1], axis=1))
    residual = v - (v @ basis) @ basis.T
    assert np.abs(residual).max() < 1e-5


def test_slerp_keeps_equal_lengths_where_lerp_shrinks() -> None:
    z0, z1 = latent.seed_latents([8, 9], 512).astype(np.float64)
    z1 = z1 * np.linalg.norm(z0) / np.linalg.norm(z1)
    s = np.linalg.norm(latent.interpolation_latents(z0, z1, 5, "slerp"), axis=1)
    line = np.linalg.norm(latent.interpolation_latents(z0, z1, 5, "lerp"), axis=1)
    np.testing.assert_allclose(s, np.linalg.norm(z0), rtol=1e-6)
    # Two near-orthogonal latents: the chord's midpoint is about 1/√2 as long.
    assert line[2] < 0.8 * np.linalg.norm(z0)


def test_slerp_of_parallel_latents_falls_back_to_lerp() -> None:
    z0 = latent.seed_latents(1, 16)[0]
    v = latent.slerp(z0, 2 * z0, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(v, [z0, 1.5 * z0, 2 * z0], rtol=1e-6)


def test_interpolation_errors() -> None:
    z0, z1 = latent.seed_latents([1, 2], 8)
    with pytest.raises(ProganError, match="not one of slerp, lerp"):
        latent.interpolation_latents(z0, z1, 3, "cubic")
    with pytest.raises(ProganError, match=r"\[0, 1\]"):
        latent.interpolate(z0, z1, 1.5)
    with pytest.raises(ProganError, match="sizes 8 and 4"):
        latent.lerp(z0, z1[:4], 0.5)


# Rendering, GIF, PNG -----------------------------------------------------------------------------


def seed_images(g: LinearColorGenerator, seeds: list[int], res: str) -> np.ndarray:
    return g.render(latent.seed_latents(seeds, g.latent_dim), res)


def gif_frames(data: bytes) -> tuple[list[np.ndarray], list[int], tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.format == "GIF" and gif.info["loop"] == 0
        frames, delays = [], []
        for frame in ImageSequence.Iterator(gif):
            frames.append(np.asarray(frame.convert("RGB")))
            delays.append(frame.info["duration"])
        return frames, delays, gif.size


def test_gif_frames_delays_and_size(g: LinearColorGenerator) -> None:
    data = latent.render_gif_bytes(g, 1, 2, "20x12", frames=6, delay_ms=80)
    frames, delays, size = gif_frames(data)
    assert len(frames) == 6 and delays == [80] * 6 and size == (20, 12)
    a, b = seed_images(g, [1, 2], "20x12")
    np.testing.assert_array_equal(frames[0], a)
    np.testing.assert_array_equal(frames[-1], b)
    # The frames in between are the interpolation, rendered.
    middle = latent.render_interpolation(g, 1, 2, 6, "20x12")
    for frame, expected in zip(frames, middle, strict=True):
        np.testing.assert_array_equal(frame, expected)


def test_gif_back_and_forth_returns_without_repeating_the_ends(g: LinearColorGenerator) -> None:
    frames, delays, _ = gif_frames(
        latent.render_gif_bytes(g, 3, 4, "10x6", frames=5, delay_ms=120, back_and_forth=True)
    )
    assert len(frames) == 8 and delays == [120] * 8
    for k in range(1, 4):
        np.testing.assert_array_equal(frames[4 + k], frames[4 - k])


def test_gif_delay_rounds_to_hundredths() -> None:
    images = np.stack([np.full((3, 5, 3), v, np.uint8) for v in (0, 255)])
    assert gif_frames(latent.encode_gif(images, 85))[1] == [90, 90]
    assert gif_frames(latent.encode_gif(images, 84))[1] == [80, 80]


def test_lerp_and_slerp_gifs_differ_between_the_ends(g: LinearColorGenerator) -> None:
    s = latent.render_interpolation(g, 1, 2, 5, "20x12", "slerp")
    line = latent.render_interpolation(g, 1, 2, 5, "20x12", "lerp")
    np.testing.assert_array_equal(s[[0, -1]], line[[0, -1]])
    assert not np.array_equal(s[2], line[2])


def test_render_at_t_matches_the_frames(g: LinearColorGenerator) -> None:
    frames = latent.render_interpolation(g, 10, 20, 3, "20x12")
    for t, frame in zip((0.0, 0.5, 1.0), frames, strict=True):
        np.testing.assert_array_equal(latent.render_at_t(g, 10, 20, t, "20x12"), frame)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": 1}, "frames must be an integer from 2 to 120"),
        ({"frames": 121}, "frames must be"),
        ({"delay_ms": 19}, r"delay \(ms\) must be an integer from 20 to 2000"),
        ({"delay_ms": 2001}, "delay"),
        ({"res": "7x7"}, "available: 5x3, 10x6, 20x12, 40x24"),
        ({"res": "big"}, "WIDTHxHEIGHT"),
        ({"method": "cubic"}, "not one of"),
    ],
)
def test_gif_errors(g: LinearColorGenerator, kwargs: dict, message: str) -> None:
    args = {"res": "10x6", "frames": 4, "delay_ms": 80, **kwargs}
    with pytest.raises(ProganError, match=message):
        latent.render_gif_bytes(g, 1, 2, **args)
    assert g.rendered == 0


def test_check_res_defaults_to_the_largest_and_normalizes(g: LinearColorGenerator) -> None:
    assert latent.check_res(g, None) == "40x24"
    assert latent.check_res(g, " 20X12 ") == "20x12"


def test_png_round_trip() -> None:
    image = np.random.RandomState(0).randint(0, 256, (7, 11, 3)).astype(np.uint8)
    data = latent.encode_png(image)
    assert data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), image)
    with pytest.raises(ProganError, match="uint8"):
        latent.encode_png(image.astype(np.float32))


def test_image_grid_places_images_row_by_row() -> None:
    images = np.stack([np.full((3, 5, 3), 10 * (k + 1), np.uint8) for k in range(5)])
    grid = latent.image_grid(images, gap=2)
    # Five images: three columns, two rows, gaps of two black pixels.
    assert grid.shape == (2 * 3 + 2, 3 * 5 + 2 * 2, 3)
    for k in range(5):
        top, left = (k // 3) * 5, (k % 3) * 7
        assert (grid[top : top + 3, left : left + 5] == 10 * (k + 1)).all()
    assert (grid[3:5] == 0).all() and (grid[:, 5:7] == 0).all()
    assert (grid[5:, 14:] == 0).all()
    assert latent.image_grid(images, columns=5, gap=0).shape == (3, 25, 3)
