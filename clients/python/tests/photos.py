"""The photos the tests send: real ones from tests/data, and one with no face."""

from __future__ import annotations

import struct
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
TEST_DATA = REPO_ROOT / "tests" / "data"

ANGELINA = [TEST_DATA / "faces/deepface_angelina/1.jpg", TEST_DATA / "faces/deepface_angelina/2.jpg"]


def photo(name: str) -> Path:
    """A photo of the repository's test data (tests/data/PROVENANCE.md)."""
    return TEST_DATA / name


def faceless() -> bytes:
    """A 640x480 picture with no face in it: a smooth colour gradient.

    The same picture the server's own tests use for NO_FACE (tests/data holds
    no faceless photo), written as an uncompressed 24-bit BMP so that no
    image library is needed.
    """
    width, height = 640, 480
    rows = []
    for y in reversed(range(height)):  # BMP rows go bottom-up
        rows.append(b"".join(bytes((128, y // 2, x // 3)) for x in range(width)))  # blue, green, red
    pixels = b"".join(rows)  # 640 * 3 is a multiple of 4: no row padding
    header = struct.pack("<2sI4xI", b"BM", 54 + len(pixels), 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 0, 0, 0, 0)
    return header + info + pixels
