"""Data the Encord tests start from, registered through Loupe's own import engine (no SDK involved)."""

from __future__ import annotations

import json

from django.core.files.base import ContentFile

from apps.storage.models import ImportJob, Item
from apps.imports.services.imports import import_job_run
from apps.storage.services.integrations import integration_builtin_get_or_create


def register(user, folder, document: dict) -> list[Item]:
    """Run an import synchronously in this process; the top-level items it made, in file order.

    The job row is made here rather than by ``import_job_create``, which would also queue it for the
    session's Celery worker: a worker still touching the job when the test's teardown truncates the
    tables deadlocks with the TRUNCATE.
    """
    job = ImportJob(organisation=folder.organisation, folder=folder, created_by=user, file_name="setup.json",
                    integration=integration_builtin_get_or_create(organisation=folder.organisation))
    job.source.save(f"{job.pk}.json", ContentFile(json.dumps(document).encode()), save=False)
    job.save()
    import_job_run(job_id=job.pk)
    return list(Item.objects.filter(import_job=job, parent__isnull=True).order_by("import_index"))


def image_entry(n: int, metadata: dict | None = None) -> dict:
    return {"objectUrl": f"https://cdn.example.com/img/{n}.jpg", "title": f"img-{n:03d}.jpg",
            "imageMetadata": {"mime_type": "image/jpeg", "file_size": 1000 + n, "width": 640, "height": 480},
            "clientMetadata": metadata or {}}


def register_images(user, folder, count: int, metadata: dict | None = None) -> list[Item]:
    return register(user, folder, {"images": [image_entry(n, metadata) for n in range(count)]})


def video_entry(n: int, metadata: dict | None = None) -> dict:
    return {"objectUrl": f"https://cdn.example.com/vid/{n}.mp4", "title": f"vid-{n:03d}.mp4",
            "videoMetadata": {"fps": 25, "duration": 10.0, "width": 640, "height": 360, "file_size": 50_000 + n,
                              "mime_type": "video/mp4"},
            "clientMetadata": metadata or {}}


def image_group_entry(title: str, count: int, metadata: dict | None = None) -> dict:
    entry = {"title": title, "clientMetadata": metadata or {}}
    for position in range(count):
        entry[f"objectUrl_{position}"] = f"https://cdn.example.com/{title}/{position}.jpg"
    return entry


def schema_add(user, organisation, **types) -> None:
    """Declare keys by type name (``score="number"``; ``clip=("embedding", 3)``; ``weather=("enum", [...])``)."""
    from apps.metadata.models import KeyType
    from apps.metadata.services.schema import schema_key_add

    for name, spec in types.items():
        kind, extra = (spec, None) if isinstance(spec, str) else spec
        options = {"size": extra} if kind == KeyType.EMBEDDING else {"enum_values": extra} if extra else {}
        schema_key_add(user=user, organisation=organisation, name=name, type=kind, **options)
