"""Pairs of perceptual hashes within a Hamming distance, found in SQL without comparing every pair.

Multi-index hashing by pigeonhole: cut the 64 bits into ``m`` segments. Two hashes that differ in at
most ``t`` bits differ in at most ``t`` segments, so they agree exactly on at least ``m - t`` of them.
A *band* is a set of ``m - t`` segments (a bit mask); every pair within ``t`` shares at least one of
the ``C(m, m - t)`` bands exactly, so joining the hashes on ``h & mask`` band by band and checking
``bit_count(a # b) <= t`` on what the join yields finds every such pair and nothing else.

``m = t + 1`` gives ``t + 1`` single-segment bands; that is the textbook scheme, and it is the
cheapest for a few thousand hashes. For many hashes short bands are the cost: at ``t = 6`` they are
9 bits wide, and a million random hashes share a 9-bit value with ~2,000 others, i.e. ~10^10
candidate pairs. Wider bands made of several segments cut the candidates by 2^bits at the price of
more joins, so ``band_masks`` picks ``m`` by an estimate of both (a join costs a pass over the hashes;
a candidate a ``bit_count``): at a million hashes and ``t = 6`` it picks 9 segments, 84 bands of
21 bits, and ~2*10^5 candidates per band.
"""

from __future__ import annotations

import itertools
import math

HASH_BITS = 64
MAX_BANDS = 400  # joins per scan: past this a finer split costs more passes than it saves candidates
# A candidate pair's bit_count against one hash's pass through a band's join: measured 0.56 s per
# million candidates and 0.67 s per million hashes (1M hashes, 16- and 21-bit bands, hash join).
CANDIDATE_COST = 0.85


def _segments(m: int) -> list[int]:
    """Masks of ``m`` contiguous segments covering the 64 bits, sizes differing by at most one."""
    sizes = [HASH_BITS // m + (1 if i < HASH_BITS % m else 0) for i in range(m)]
    masks, start = [], 0
    for size in sizes:
        masks.append(((1 << size) - 1) << start)
        start += size
    return masks


def _signed(mask: int) -> int:
    return mask - (1 << HASH_BITS) if mask >= 1 << (HASH_BITS - 1) else mask


def band_cost(*, hashes: int, threshold: int, segments: int) -> float:
    """Estimated work of the scheme with ``segments`` segments on ``hashes`` uniformly random hashes."""
    keep = segments - threshold
    bands = math.comb(segments, keep)
    width = keep * HASH_BITS / segments  # bands differ by a bit at most: the mean is the estimate
    candidates = hashes * hashes / 2 / 2.0 ** width
    return bands * (hashes + CANDIDATE_COST * candidates)


def band_masks(*, hashes: int, threshold: int) -> list[int]:
    """The bands (signed 64-bit masks) to join on for ``hashes`` hashes and distance ``threshold``.

    Every pair of hashes within ``threshold`` agrees exactly on at least one mask. ``threshold`` is
    0..63; 0 is one band of all 64 bits (exact duplicates).
    """
    if not 0 <= threshold < HASH_BITS:
        raise ValueError(f"threshold must be 0..{HASH_BITS - 1} bits, got {threshold}")
    options = [
        m for m in range(threshold + 1, HASH_BITS + 1)
        if math.comb(m, m - threshold) <= MAX_BANDS or m == threshold + 1
    ]
    best = min(options, key=lambda m: band_cost(hashes=max(hashes, 2), threshold=threshold, segments=m))
    segments = _segments(best)
    return [_signed(sum(combo)) for combo in itertools.combinations(segments, best - threshold)]


def band_key_sql(mask: int, column: str) -> str:
    """SQL for ``column``'s bits under ``mask`` packed into the lowest bits (equal iff ``column & mask`` is).

    Packing matters for speed, not correctness: PostgreSQL hashes a bigint by folding its high half
    onto its low half, and a band whose bits sit in both halves at overlapping positions (segments 0
    and 4 of 9) folds 2^22 distinct keys onto ~2^18 hash values; the hash join then walks chains
    several entries long and a band costs 2-10x more.
    """
    unsigned = mask & ((1 << HASH_BITS) - 1)
    if unsigned == (1 << HASH_BITS) - 1:
        return column
    parts, offset, bit = [], 0, 0
    while bit < HASH_BITS:
        if not unsigned >> bit & 1:
            bit += 1
            continue
        width = 0
        while bit + width < HASH_BITS and unsigned >> (bit + width) & 1:
            width += 1
        part = f"(({column} >> {bit}) & {(1 << width) - 1})"
        parts.append(f"({part} << {offset})" if offset else part)
        offset += width
        bit += width
    return "(" + " | ".join(parts) + ")"


def hash_pairs_sql(mask: int) -> str:
    """One band's join over the temporary table ``dup_hashes(item int, h bigint)``: (item a < item b,
    distance) for every pair within the threshold that agrees on the band. Parameter: threshold."""
    # The key expression holds only integers computed here (never user input); PostgreSQL hashes it
    # once per row on each side (a hash join).
    return (
        "SELECT x.item, y.item, bit_count((x.h # y.h)::bit(64)) "
        f"FROM dup_hashes x JOIN dup_hashes y ON {band_key_sql(mask, 'x.h')} = {band_key_sql(mask, 'y.h')} "
        "AND x.item < y.item WHERE bit_count((x.h # y.h)::bit(64)) <= %(threshold)s"
    )


def connected_groups(edges) -> dict[int, list[int]]:
    """Union-find over (a, b) pairs: root -> members, for every component of two or more."""
    parent: dict[int, int] = {}

    def find(node: int) -> int:
        root = node
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(node, node) != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for node in list(parent):
        groups.setdefault(find(node), []).append(node)
    for root, members in groups.items():
        if root not in members:
            members.append(root)
    return groups
