"""Data the Encord tests start from, registered through Loupe's own import engine (no SDK involved)."""

from __future__ import annotations

from apps.storage.models import Item
from apps.storage.services.imports import import_job_create_from_data, import_job_run


def register(user, folder, document: dict) -> list[Item]:
    """Run an import synchronously in this process; the top-level items it made, in file order."""
    job = import_job_create_from_data(user=user, folder=folder, data=document)
    import_job_run(job_id=job.pk)
    return list(Item.objects.filter(import_job=job, parent__isnull=True).order_by("import_index"))


def image_entry(n: int, metadata: dict | None = None) -> dict:
    return {"objectUrl": f"https://cdn.example.com/img/{n}.jpg", "title": f"img-{n:03d}.jpg",
            "imageMetadata": {"mime_type": "image/jpeg", "file_size": 1000 + n, "width": 640, "height": 480},
            "clientMetadata": metadata or {}}


def register_images(user, folder, count: int, metadata: dict | None = None) -> list[Item]:
    return register(user, folder, {"images": [image_entry(n, metadata) for n in range(count)]})
