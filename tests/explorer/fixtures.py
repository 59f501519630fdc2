"""A small realistic Explorer data set: 200 items over two folders with varied, partly missing and
mistyped metadata, plus the Python rules the tests compute expected answers with."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create
from tests.encord_compat.helpers import schema_add

CAMERAS = ["cam1", "cam2", "cam3", "cam4"]
BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)


def item_metadata(n: int, rng: random.Random) -> dict:
    """Metadata of item ``n``: every key missing sometimes, some values of another kind."""
    metadata = {}
    if n % 7:
        metadata["camera"] = rng.choice(CAMERAS)
    if n % 5:
        metadata["score"] = round(rng.random(), 3)
    elif n % 10 == 0:
        metadata["score"] = "high"  # a string in a number key's place: written before the key was declared
    if n % 3:
        metadata["night"] = rng.random() < 0.4
    if n % 4:
        captured = BASE_TIME + timedelta(hours=rng.randint(0, 24 * 30))
        # Some with an offset: +02:00 is the same instant two hours earlier in UTC.
        metadata["captured"] = (captured.astimezone(UTC).isoformat() if n % 8 else
                                captured.astimezone(__import__("datetime").timezone(timedelta(hours=2))).isoformat())
    if n % 6 == 0:
        metadata["speed"] = rng.randint(0, 120)  # undeclared: numbers ...
    elif n % 6 == 1:
        metadata["speed"] = f"{rng.randint(0, 120)} km/h"  # ... and strings
    if n % 9 == 0:
        metadata["site"] = rng.choice(["Berlin-North", "berlin-south", "Paris"])
    return metadata


def build(org, admin, *, count: int = 200, seed: int = 7):
    """(folders a and b, the items) with the schema camera enum, score number, night boolean,
    captured datetime, site varchar; speed stays undeclared."""
    schema_add(admin, org, camera=("enum", CAMERAS), score="number", night="boolean", captured="datetime",
               site="varchar")
    folder_a = folder_create(user=admin, name="a", organisation=org)
    folder_b = folder_create(user=admin, name="b", organisation=org)
    sub = folder_create(user=admin, name="a-sub", parent=folder_a)
    rng = random.Random(seed)
    folders = [folder_a, folder_b, sub]
    rows = []
    for n in range(count):
        folder = folders[n % 3]
        rows.append(Item(
            uuid=uuid.UUID(int=rng.getrandbits(128)), organisation=org, folder=folder,
            item_type=ItemType.VIDEO if n % 4 == 0 else ItemType.IMAGE, name=f"frame-{n:03d}.jpg",
            client_metadata=item_metadata(n, rng), status=ItemStatus.READY,
            width=None if n % 11 == 0 else 640 + (n % 5) * 100, height=480,
        ))
    Item.objects.bulk_create(rows)
    return folder_a, folder_b, sub, list(Item.objects.filter(organisation=org).order_by("name"))
