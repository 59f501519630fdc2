"""Near-duplicates end to end: real files probed by a real worker, a scan run by the worker through the
REST API, groups listed over real HTTP, a group resolved into the trash."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from apps.imports.services.imports import import_job_create_from_data
from apps.similarity.models import FrameHash
from apps.storage.models import Item, ItemStatus
from apps.storage.phashes import image_phash, phash_distance
from apps.storage.services.folders import folder_create
from tests.media_factory import make_scene_video, scene_image

SETTLE_SECONDS = 60


@pytest.fixture
def stored_media():
    yield
    for pk in Item.objects.values_list("pk", flat=True):
        shutil.rmtree(Path(default_storage.path(f"previews/{pk}")), ignore_errors=True)


@pytest.fixture
def worker(transactional_db, celery_worker_process, stored_media):
    return celery_worker_process


@pytest.fixture
def editor(org, make_user):
    return make_user(org, role="admin", email="dup-editor@example.com")


@pytest.fixture
def folder(editor, org):
    return folder_create(user=editor, name="shots", organisation=org)


def _import(user, folder, data: dict) -> list[Item]:
    job = import_job_create_from_data(user=user, folder=folder, data=data)
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished and not Item.objects.filter(import_job=job, status=ItemStatus.PENDING).exists():
            return list(Item.objects.filter(import_job=job, parent__isnull=True).order_by("import_index"))
        time.sleep(0.1)
    raise AssertionError("the import did not settle")


def _scan(api, **body) -> dict:
    started = api.post("/api/v1/similarity/duplicates/scan", json=body)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        query = {"method": body["method"], **({"key": body["key"]} if "key" in body else {})}
        listing = api.get("/api/v1/similarity/duplicates", params=query).json()
        if listing["latest"]["status"] in ("DONE", "ERROR"):
            assert listing["latest"]["uuid"] == started.json()["uuid"]
            return listing
        time.sleep(0.2)
    raise AssertionError("the scan did not finish")


def test_edited_copies_group_together_distinct_pictures_apart_and_resolve_trashes_the_rest(
        worker, editor, folder, test_files, api_for):
    original = scene_image(4)
    width, height = original.size
    original.save(test_files / "original.png")
    original.resize((width // 2, height // 2)).save(test_files / "resized.jpg", quality=85)
    original.save(test_files / "reencoded.jpg", quality=40)
    original.crop((6, 5, width - 6, height - 5)).save(test_files / "cropped.png")  # ~1% off each side
    scene_image(10).save(test_files / "other-a.png")
    scene_image(11).save(test_files / "other-b.jpg", quality=90)
    names = ["original.png", "resized.jpg", "reencoded.jpg", "cropped.png", "other-a.png", "other-b.jpg"]
    items = _import(editor, folder, {"images": [{"objectUrl": f"file://{test_files / n}"} for n in names]})
    assert all(item.status == ItemStatus.READY and item.phash is not None for item in items)
    copies, others = items[:4], items[4:]
    assert max(phash_distance(copies[0].phash, copy.phash) for copy in copies) <= 6
    assert min(phash_distance(a.phash, b.phash) for a in items for b in others if a != b) > 6

    api = api_for(editor)
    listing = _scan(api, method="hash", threshold=6)
    assert listing["scan"]["status"] == "DONE"
    assert (listing["scan"]["group_count"], listing["scan"]["item_count"], listing["scan"]["hashes"]) == (1, 4, 6)
    [group] = listing["results"]
    assert {member["uuid"] for member in group["items"]} == {str(item.pk) for item in copies}
    assert group["size"] == 4 and group["items"][0]["thumbnail_url"].endswith("/preview")

    filtered = api.post("/api/v1/explore/search", json={"q": "$duplicate"}).json()
    assert {row["uuid"] for row in filtered["results"]} == {str(item.pk) for item in copies}

    resolved = api.post(f"/api/v1/similarity/duplicates/{group['id']}/resolve", json={"keep": str(copies[0].pk)})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["trashed"] == 3
    trashed = set(Item.objects.filter(deleted_at__isnull=False).values_list("pk", flat=True))
    assert trashed == {item.pk for item in copies[1:]}
    assert api.get("/api/v1/similarity/duplicates", params={"method": "hash"}).json()["results"] == []
    assert api.post("/api/v1/explore/search", json={"q": "$duplicate"}).json()["results"] == []


def test_a_video_poster_and_its_strip_frames_are_hashed_and_match_the_same_picture(
        worker, editor, folder, test_files, api_for):
    make_scene_video(test_files / "clip.mp4", seeds=[7, 8], frames_each=10, size=(160, 120))
    scene_image(7, size=(320, 240)).save(test_files / "still.png")
    video, still = _import(editor, folder, {"videos": [{"objectUrl": f"file://{test_files / 'clip.mp4'}"}],
                                            "images": [{"objectUrl": f"file://{test_files / 'still.png'}"}]})
    assert video.status == ItemStatus.READY and video.phash is not None
    with default_storage.open(video.preview) as handle, Image.open(handle) as poster:
        assert phash_distance(video.phash, image_phash(poster)) <= 2  # the stored JPEG of the hashed picture
    frames = dict(FrameHash.objects.filter(item=video).values_list("frame", "phash"))
    assert sorted(frames) == [entry["frame"] for entry in video.preview_frames]
    # Strip frames 1, 3, 5, 7, 9 show scene 7, frames 11..19 scene 8.
    assert all(phash_distance(frames[n], still.phash) <= 6 for n in frames if n < 10)
    assert all(phash_distance(frames[n], still.phash) > 6 for n in frames if n >= 10)

    listing = _scan(api_for(editor), method="hash")
    assert listing["scan"]["threshold"] == 6.0
    assert [{m["uuid"] for m in group["items"]} for group in listing["results"]] == [{str(video.pk), str(still.pk)}]
