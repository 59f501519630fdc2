"""Clustered vectors on real items, and the exact answers numpy computes for them.

``build`` declares an embedding key ``clip`` and a number key ``u`` (uniform in [0, 1): ``u < 0.1``
selects about 10%), creates items over two top-level folders and writes one item-level vector each
with the binary COPY imports use. ``exact_nearest`` is the reference every test compares with.
"""

from __future__ import annotations

import uuid

import numpy as np

from apps.metadata.services.derived import vectors_copy
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create
from tests.encord_compat.helpers import schema_add


def clustered(n: int, size: int, *, clusters: int, seed: int = 3, spread: float = 0.7) -> np.ndarray:
    """``n`` unit float32 vectors around ``clusters`` unit centres (uniform noise is an ANN worst case)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, size))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    picked = rng.integers(0, clusters, n)
    vectors = centres[picked] + rng.standard_normal((n, size)) * (spread / np.sqrt(size))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def build(org, admin, *, n: int, size: int, clusters: int = 30, seed: int = 3, key: str = "clip"):
    """(folders a and b, items in creation order, their vectors, their ``u`` values)."""
    schema_add(admin, org, **{key: ("embedding", size)}, u="number", camera=("enum", ["cam1", "cam2"]))
    folder_a = folder_create(user=admin, name="a", organisation=org)
    folder_b = folder_create(user=admin, name="b", organisation=org)
    rng = np.random.default_rng(seed + 1)
    u = rng.random(n).round(6)
    rows = [Item(uuid=uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i), organisation=org,
                 folder=folder_a if i % 2 == 0 else folder_b, item_type=ItemType.IMAGE, name=f"v-{i:05d}.jpg",
                 client_metadata={"u": float(u[i]), "camera": "cam1" if i % 3 else "cam2"}, status=ItemStatus.READY)
            for i in range(n)]
    Item.objects.bulk_create(rows)
    vectors = clustered(n, size, clusters=clusters, seed=seed)
    from apps.metadata.models import MetadataKey

    key_row = MetadataKey.objects.get(organisation=org, name=key)
    vectors_copy([(key_row.pk, item.pk, None, vectors[i]) for i, item in enumerate(rows)])
    return folder_a, folder_b, rows, vectors, u


def exact_nearest(vectors: np.ndarray, query: np.ndarray, mask: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(row, cosine distance) of the ``k`` rows under ``mask`` nearest to ``query``, nearest first."""
    v = vectors.astype(np.float64)
    q = query.astype(np.float64)
    distance = 1 - (v @ q) / (np.linalg.norm(v, axis=1) * np.linalg.norm(q))
    rows = np.flatnonzero(mask)
    order = rows[np.argsort(distance[rows], kind="stable")][:k]
    return [(int(i), float(distance[i])) for i in order]
