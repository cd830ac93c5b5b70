"""Perceptual hashes of proof images: the same screenshot, re-encoded or resized, hashes alike.

A 64-bit DCT hash (pHash): the picture in grey at 32×32, its 2-D DCT, the 8×8 lowest
frequencies compared with their median. Re-saving as JPEG, scaling or a little noise move a few
bits at most; another picture differs in about half of them. Pillow and numpy only.

To find near hashes with an index, a hash is cut into :data:`BANDS` bands of 8 bits stored as
``"<band>:<hex>"`` strings: two hashes within ``BANDS - 1`` bits of each other share at least one
band whole (pigeonhole), so an equality lookup on the bands finds every candidate, and the exact
Hamming distance is checked afterwards.
"""

from __future__ import annotations

from functools import cache
from io import BytesIO

import numpy as np
from PIL import Image

SIZE = 32
LOW = 8
BANDS = 8


@cache
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m


def phash_image(image: Image.Image) -> int:
    """The 64-bit pHash of a picture."""
    grey = np.asarray(image.convert("L").resize((SIZE, SIZE), Image.Resampling.LANCZOS), dtype=np.float64)
    d = _dct_matrix(SIZE)
    low = (d @ grey @ d.T)[:LOW, :LOW].flatten()
    bits = low[1:] > np.median(low[1:])  # the DC term says only how bright the picture is
    value = 0
    for bit in np.concatenate(([low[0] > np.median(low)], bits)):
        value = (value << 1) | int(bit)
    return value


def phash_bytes(data: bytes) -> int:
    """The pHash of an encoded picture (JPEG, PNG, WebP…)."""
    with Image.open(BytesIO(data)) as image:
        return phash_image(image)


def to_hex(value: int) -> str:
    """16 hex digits."""
    return f"{value:016x}"


def hamming(a: str | int, b: str | int) -> int:
    """How many of the 64 bits differ (hashes as ints or :func:`to_hex` strings)."""
    x = int(a, 16) if isinstance(a, str) else a
    y = int(b, 16) if isinstance(b, str) else b
    return (x ^ y).bit_count()


def bands(value: str | int) -> list[str]:
    """The indexable bands of a hash: ``["0:ab", "1:cd", …]``."""
    text = value if isinstance(value, str) else to_hex(value)
    return [f"{i}:{text[2 * i:2 * i + 2]}" for i in range(BANDS)]
