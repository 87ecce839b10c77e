import pytest

from progan.errors import ProganError
from progan.resolution import base_for, format_res, parse_res, stage_index, stage_shapes


def test_round_trip_and_width_first():
    assert parse_res("80x48") == (48, 80)
    assert format_res((48, 80)) == "80x48"
    assert [format_res(s) for s in stage_shapes((3, 5), 9)] == [
        "5x3",
        "10x6",
        "20x12",
        "40x24",
        "80x48",
        "160x96",
        "320x192",
        "640x384",
        "1280x768",
    ]


@pytest.mark.parametrize(
    "target, base", [("80x48", "5x3"), ("1280x768", "5x3"), ("128x128", "4x4"), ("32x32", "4x4")]
)
def test_base_is_found_by_halving(target, base):
    assert format_res(base_for(parse_res(target))) == base


@pytest.mark.parametrize("text", ["80", "80x", "x48", "80*48", "0x48", "-5x3", ""])
def test_bad_resolution_is_a_clear_error(text):
    with pytest.raises(ProganError, match="WIDTHxHEIGHT|positive"):
        parse_res(text)


def test_unreachable_stage():
    assert stage_index((3, 5), (48, 80)) == 4
    with pytest.raises(ProganError, match="not reachable"):
        stage_index((3, 5), (50, 80))
