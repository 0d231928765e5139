"""The file backend's key segment ↔ file name mapping: one to one, and always a plain name."""

from __future__ import annotations

import random

import pytest

from multistore.core.backends.file.names import escape_segment, key_to_names, unescape_name
from multistore.core.errors import InvalidRequest

TRICKY = [
    "", ".", "..", "...", ".%", ".%.", ".%..", "%", "%25", ".multistore", ".multistore2",
    "a\x00b", "\x01", "\x7f", "tab\there", "é", "😀", ".%%zz", ".%2", "plain", "100%.txt",
]  # fmt: skip


def random_segments(count: int) -> list[str]:
    rng = random.Random(8)
    alphabet = [".", "%", "a", "Z", "0", "\x00", "\x01", "\x1f", "\x7f", "é", " ", "2", "5"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6))) for _ in range(count)]


@pytest.mark.parametrize("at_root", [True, False])
def test_every_segment_round_trips_through_a_plain_file_name(at_root: bool) -> None:
    segments = sorted(set(TRICKY + random_segments(3000)))
    names = [escape_segment(segment, at_root=at_root) for segment in segments]
    assert len(set(names)) == len(names)  # one to one
    for segment, name in zip(segments, names, strict=True):
        assert name not in ("", ".", "..")
        assert "/" not in name
        assert not any(ord(c) < 0x20 or c == "\x7f" for c in name)
        assert unescape_name(name, at_root=at_root) == segment
    # The backend's own directory is never the name of a first segment.
    assert (".multistore" in names) is not at_root


def test_ordinary_segments_are_their_own_names() -> None:
    for segment in ["a", "report*.pdf", "100%.txt", "a=b", "with space", "日本語", "x.%y"]:
        assert escape_segment(segment, at_root=True) == segment


@pytest.mark.parametrize("name", [".%plain", ".%%zz", ".%%2e", "raw\x01", ".%.multistore"])
def test_names_no_segment_maps_to_are_refused(name: str) -> None:
    assert unescape_name(name, at_root=False) is None


def test_segments_too_long_for_a_file_name_are_refused() -> None:
    assert key_to_names("a/" + "x" * 255) == ["a", "x" * 255]
    with pytest.raises(InvalidRequest, match="255 bytes"):
        key_to_names("a/" + "x" * 256)
    with pytest.raises(InvalidRequest):
        key_to_names("\x01" * 90)  # 2 + 3 x 90 bytes once escaped
    assert key_to_names("é" * 127) == ["é" * 127]
