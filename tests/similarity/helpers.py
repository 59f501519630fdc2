"""Items with given perceptual hashes, for the grouping tests (no files: the hash is what is grouped)."""

from __future__ import annotations

import random

from apps.storage.models import Item, ItemStatus, ItemType


def flip(value: int, bits: list[int]) -> int:
    """``value`` (a signed 64-bit hash) with ``bits`` flipped, signed again."""
    unsigned = value & ((1 << 64) - 1)
    for bit in bits:
        unsigned ^= 1 << bit
    return unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned


def random_hash(rng: random.Random) -> int:
    return flip(rng.getrandbits(64), [])


def hashed_items(org, folder, hashes: list[int], *, prefix: str = "h") -> list[Item]:
    """One ready top-level image item per hash, named ``<prefix>-<n>``."""
    return Item.objects.bulk_create([
        Item(organisation=org, folder=folder, item_type=ItemType.IMAGE, name=f"{prefix}-{n:03d}",
             status=ItemStatus.READY, phash=value)
        for n, value in enumerate(hashes)
    ])
