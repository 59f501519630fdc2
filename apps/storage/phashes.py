"""Perceptual hashes (pHash, 64 bits) of the pictures the workers already decode for previews.

Django-free, like `previews`: the preview makers hash the picture they have just scaled, so a file is
decoded once for both. A hash is stored as a signed 64-bit integer (PostgreSQL ``bigint``), whose bit
pattern is the hash: the Hamming distance of two hashes is ``bit_count(a # b)`` in SQL and
``(a ^ b).bit_count()`` in Python, whatever the signs.
"""

from __future__ import annotations

import imagehash
from PIL import Image

HASH_BITS = 64
# pHash of a picture without structure (one flat colour: black frames, blank pages) is all zeros
# (black) or only the DC bit (any other colour), and their complements; such hashes say nothing about
# content and would join every blank picture into one group, so grouping skips them.
FLAT_HASHES = frozenset({0, -1, -(1 << 63), (1 << 63) - 1})


def image_phash(image: Image.Image) -> int:
    """The 64-bit pHash of ``image`` (any mode; alpha is ignored) as a signed int64.

    Bits are read row by row from imagehash's 8x8 DCT sign matrix, the first bit highest, so
    ``int(str(imagehash.phash(image)), 16)`` is the same number unsigned.
    """
    bits = imagehash.phash(image).hash.flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value - (1 << HASH_BITS) if value >= 1 << (HASH_BITS - 1) else value


def phash_distance(a: int, b: int) -> int:
    """Hamming distance of two stored hashes (0..64)."""
    return ((a ^ b) & ((1 << HASH_BITS) - 1)).bit_count()
