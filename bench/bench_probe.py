"""Probing benchmark: how many real small files one worker process probes (and previews) per second.

    python bench/bench_probe.py [--images 300] [--videos 60]

Makes real JPEGs (1280x720) and short H.264 MP4s (2 s, 640x360, 25 fps) under var/bench/probe,
registers them through an import job (file:// URLs in a local root) in the benchmark database, then
runs the probe service in this one process, item by item: read the file, probe it, write the
thumbnail (and the video poster + 8-frame strip), update the row. Prints items/s per kind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FILES = ROOT / "var" / "bench" / "probe"


def _make_media(images: int, videos: int) -> list[Path]:
    from tests.media_factory import make_jpeg, make_mp4

    FILES.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(images):
        path = FILES / f"img-{i:05d}.jpg"
        if not path.exists():
            make_jpeg(path, size=(1280, 720), color=(i % 255, 80, 160))
        paths.append(path)
    for i in range(videos):
        path = FILES / f"vid-{i:05d}.mp4"
        if not path.exists():
            make_mp4(path, frames=50, fps=25, size=(640, 360))
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--videos", type=int, default=60)
    args = parser.parse_args()

    from bench.bench_import import _bench_env, _recreate_database

    env = _bench_env()
    env["LOUPE_LOCAL_ROOTS"] = str(FILES)
    _recreate_database(env)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE",
                                           "LOUPE_LOG_LEVEL", "LOUPE_LOCAL_ROOTS")})
    import django

    django.setup()
    from apps.core.models import User
    from apps.core.services import organisation_default_get_or_create
    from apps.storage.models import Item, ItemStatus
    from apps.storage.services.folders import folder_create
    from apps.imports.services.imports import import_job_create_from_data, import_job_run
    from apps.storage.services.processing import item_probe

    paths = _make_media(args.images, args.videos)
    org = organisation_default_get_or_create()
    user = User.objects.create_superuser(email="bench@loupe.local", password="bench")
    folder = folder_create(user=user, name="probe", organisation=org)
    data = {"images": [{"objectUrl": p.as_uri()} for p in paths if p.suffix == ".jpg"],
            "videos": [{"objectUrl": p.as_uri()} for p in paths if p.suffix == ".mp4"]}
    job = import_job_create_from_data(user=user, folder=folder, data=data)
    import_job_run(job_id=job.pk)

    results = {}
    for kind in ("image", "video"):
        ids = list(Item.objects.filter(folder=folder, item_type=kind).values_list("uuid", flat=True))
        started = time.perf_counter()
        for item_id in ids:
            item_probe(item_id=item_id)
        elapsed = time.perf_counter() - started
        ready = Item.objects.filter(pk__in=ids, status=ItemStatus.READY).count()
        results[kind] = {"items": len(ids), "ready": ready, "seconds": round(elapsed, 2),
                         "items_per_s": round(len(ids) / elapsed, 1)}
    print(json.dumps({"per_worker_process": results}, indent=2))


if __name__ == "__main__":
    main()
