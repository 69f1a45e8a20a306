import pytest

from perceptcodec.errors import PerceptcodecError
from perceptcodec.units import parse_bitrate


@pytest.mark.parametrize(
    ("text", "kbps"),
    [("300k", 300), ("300K", 300), ("1.5M", 1500), ("800", 800), ("250kbps", 250), (450, 450)],
)
def test_bitrates(text, kbps):
    assert parse_bitrate(text) == kbps


@pytest.mark.parametrize("text", ["", "abc", "300x", "-5k", "1e3", "0k", "2000M"])
def test_bad_bitrates(text):
    with pytest.raises(PerceptcodecError):
        parse_bitrate(text)
