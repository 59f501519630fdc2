"""A small projected data set: 60 items in two top-level folders with 8-d vectors drawn around three
centres, a ``camera`` enum and a ``score`` number, written through the one metadata write engine."""

from __future__ import annotations

import uuid

import numpy as np

from apps.metadata.services.updates import MetadataWrite, items_metadata_write
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create
from tests.encord_compat.helpers import schema_add

CAMERAS = ["cam1", "cam2", "cam3"]
SIZE = 8


def vectors(count: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, SIZE)) * 4
    return (centres[np.arange(count) % 3] + rng.normal(size=(count, SIZE))).round(4)


def build(org, admin, *, count: int = 60):
    """(folder a, folder b, items in name order); item n is in folder a when n is even."""
    schema_add(admin, org, clip=("embedding", SIZE), camera=("enum", CAMERAS), score="number", note="text")
    folder_a = folder_create(user=admin, name="a", organisation=org)
    folder_b = folder_create(user=admin, name="b", organisation=org)
    rows = [Item(uuid=uuid.UUID(int=(n + 1) * 7919), organisation=org, folder=folder_a if n % 2 == 0 else folder_b,
                 item_type=ItemType.IMAGE, name=f"point-{n:03d}.jpg", status=ItemStatus.READY)
            for n in range(count)]
    Item.objects.bulk_create(rows)
    values = vectors(count)
    items_metadata_write(user=admin, writes=[
        MetadataWrite(item_id=row.uuid, metadata={"clip": values[n].tolist(), "camera": CAMERAS[n % 3],
                                                  "score": n / 10})
        for n, row in enumerate(rows)])
    return folder_a, folder_b, list(Item.objects.filter(organisation=org).order_by("name"))


def add_item(org, admin, folder, n: int) -> Item:
    """One more item with a vector (through the write engine, as an import or the API would)."""
    item = Item.objects.create(uuid=uuid.UUID(int=(n + 1) * 7919), organisation=org, folder=folder,
                               item_type=ItemType.IMAGE, name=f"point-{n:03d}.jpg", status=ItemStatus.READY)
    items_metadata_write(user=admin, writes=[MetadataWrite(item_id=item.uuid, metadata={"clip": vectors(n + 1)[n].tolist()})])
    return item


def parse_points(payload: bytes) -> dict:
    """The binary of ``GET /api/v1/similarity/projections/<key>`` as {item uuid: (x, y, ordinal)}."""
    assert payload[:4] == b"LPJ1"
    n = int(np.frombuffer(payload[4:8], "<u4")[0])
    assert len(payload) == 8 + n * (4 + 4 + 4 + 16)
    x = np.frombuffer(payload, "<f4", n, 8)
    y = np.frombuffer(payload, "<f4", n, 8 + 4 * n)
    ordinal = np.frombuffer(payload, "<u4", n, 8 + 8 * n)
    ids = [uuid.UUID(bytes=payload[8 + 12 * n + 16 * i: 8 + 12 * n + 16 * (i + 1)]) for i in range(n)]
    return {item: (float(x[i]), float(y[i]), int(ordinal[i])) for i, item in enumerate(ids)}


def inside(point, polygon) -> bool:
    """Ray casting (points exactly on an edge are not used by the tests)."""
    x, y = point
    result = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1]):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            result = not result
    return result
