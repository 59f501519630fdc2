"""Uploads: stored confined under uploads/<organisation>/<folder>/<uuid>/, registered by a real import job and probed
by a real worker; unsupported or oversized files refuse the whole request and write nothing."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile

from apps.storage.models import FolderRole, ImportJob, Item, ItemStatus
from apps.storage.services.folders import folder_create, folder_member_set
from apps.imports.services.uploads import upload_create, upload_detect_kind, upload_safe_filename
from tests.media_factory import make_dicom_series, make_jpeg, make_pdf, make_png, make_wav

SUPPORTED = "images, videos, audio, PDF, plain text, DICOM (.dcm) and NIfTI (.nii, .nii.gz)"


@pytest.fixture
def media(tmp_path):
    """Real files: a 64x48 JPEG and a 1 s 8 kHz mono WAV."""
    return {
        "jpeg": make_jpeg(tmp_path / "photo.jpg", size=(64, 48)).read_bytes(),
        "wav": make_wav(tmp_path / "tone.wav", seconds=1.0, rate=8000).read_bytes(),
    }


@pytest.fixture
def setup(org, make_user, client):
    owner = make_user(org, email="owner@example.com")
    folder = folder_create(user=owner, name="uploads here", organisation=org)
    client.force_login(owner)
    yield {"owner": owner, "folder": folder, "client": client}
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "uploads" / str(org.pk), ignore_errors=True)


def multipart(files: list[tuple[str, bytes]], boundary: str = "loupe-test-boundary") -> tuple[bytes, str]:
    """A multipart body sent as a hostile client would: file names exactly as given (paths included)."""
    parts = []
    for name, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def uploaded_files(folder) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "uploads" / str(folder.organisation_id) / str(folder.pk)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_upload_is_stored_confined_and_probed_by_the_worker(transactional_db, celery_worker_process, setup, media):
    folder, client = setup["folder"], setup["client"]
    body, content_type = multipart([("../../etc/passwd.jpg", media["jpeg"]), ("tone.wav", media["wav"])])
    response = client.post(f"/folders/{folder.pk}/uploads", data=body, content_type=content_type)

    job = ImportJob.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/imports/{job.pk}/")
    assert (job.folder_id, job.created_by_id, job.file_name) == (folder.pk, setup["owner"].pk,
                                                                 "Upload: passwd.jpg, tone.wav")
    stored = uploaded_files(folder)
    root = (Path(settings.MEDIA_ROOT) / "uploads" / str(folder.organisation_id) / str(folder.pk)).resolve()
    assert sorted(p.name for p in stored) == ["passwd.jpg", "tone.wav"]
    for path in stored:
        assert path.resolve().parent.parent == root  # uploads/<org>/<folder>/<uuid>/<name>, nothing outside
        uuid.UUID(path.parent.name)
    assert {p.name: p.read_bytes() for p in stored} == {"passwd.jpg": media["jpeg"], "tone.wav": media["wav"]}

    wait_for(lambda: ImportJob.objects.get().status == "DONE"
             and not Item.objects.filter(folder=folder, status=ItemStatus.PENDING).exists())
    job.refresh_from_db()
    assert (job.total, job.done, job.skipped, job.failed) == (2, 2, 0, 0)
    items = {i.name: i for i in Item.objects.filter(folder=folder)}
    image, audio = items["passwd.jpg"], items["tone.wav"]
    assert (image.item_type, image.status, image.file_size, image.width, image.height, image.mime_type) == (
        "image", "ready", len(media["jpeg"]), 64, 48, "image/jpeg")
    assert (audio.item_type, audio.status, audio.file_size, audio.audio_sample_rate, audio.audio_num_channels) == (
        "audio", "ready", len(media["wav"]), 8000, 1)
    assert {image.url, audio.url} == {p.resolve().as_uri() for p in stored}


def test_the_service_confines_hostile_names(db, setup, media):
    folder = setup["folder"]
    files = [ContentFile(media["jpeg"], name=name) for name in ("../../etc/passwd.jpg", "..\\..\\win.jpg",
                                                                "/abs/.hidden.jpg", "a b/c d?.jpg")]
    job = upload_create(user=setup["owner"], folder=folder, files=files)
    root = (Path(settings.MEDIA_ROOT) / "uploads" / str(folder.organisation_id) / str(folder.pk)).resolve()
    stored = uploaded_files(folder)
    assert sorted(p.name for p in stored) == ["c_d.jpg", "hidden.jpg", "passwd.jpg", "win.jpg"]
    assert all(p.resolve().parent.parent == root for p in stored)
    assert job.file_name == "Upload: passwd.jpg, win.jpg, hidden.jpg, c_d.jpg"


def test_unsupported_file_refuses_the_request_and_writes_nothing(db, setup, media):
    folder, client = setup["folder"], setup["client"]
    body, content_type = multipart([("photo.jpg", media["jpeg"]), ("setup.exe", b"MZ\x90\x00" + bytes(200))])
    response = client.post(f"/folders/{folder.pk}/uploads", data=body, content_type=content_type,
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert (f"&#x27;setup.exe&#x27; is not a file type Loupe can register (supported: {SUPPORTED}). "
            "Nothing was uploaded.") in response.content.decode()
    assert (ImportJob.objects.count(), Item.objects.count(), uploaded_files(folder)) == (0, 0, [])


def test_upload_over_the_size_limit_is_refused(db, setup, media, settings):
    settings.LOUPE_UPLOAD_MAX_BYTES = 1000
    folder, client = setup["folder"], setup["client"]
    body, content_type = multipart([("tone.wav", media["wav"])])
    response = client.post(f"/folders/{folder.pk}/uploads", data=body, content_type=content_type,
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert (f"&#x27;tone.wav&#x27; is {len(media['wav']):,} bytes; the upload limit is 1,000 bytes per file. "
            "Nothing was uploaded.") in response.content.decode()
    assert (ImportJob.objects.count(), uploaded_files(folder)) == (0, [])


def test_viewers_cannot_upload(db, setup, make_user, org, client, media):
    viewer = make_user(org, email="viewer@example.com")
    folder_member_set(user=setup["owner"], folder=setup["folder"], member=viewer, role=FolderRole.VIEWER)
    client.force_login(viewer)
    body, content_type = multipart([("photo.jpg", media["jpeg"])])
    assert client.post(f"/folders/{setup['folder'].pk}/uploads", data=body, content_type=content_type).status_code == 403
    assert (ImportJob.objects.count(), uploaded_files(setup["folder"])) == (0, [])


def test_type_detection_uses_content_then_extension(tmp_path):
    png = make_png(tmp_path / "p.png").read_bytes()
    pdf = make_pdf(tmp_path / "d.pdf").read_bytes()
    dicom = make_dicom_series(tmp_path / "dcm", slices=1)[0].read_bytes()
    mp4_head = b"\x00\x00\x00\x18ftypisom" + bytes(100)
    cases = {
        ("holiday.jpg", png): "image",  # a PNG named .jpg is still an image
        ("report.txt", pdf): "pdf",
        ("notes.txt", b"BM and other words"): "text",
        ("slice", dicom[:512]): "dicom",
        ("old.dcm", b"\x08\x00\x05\x00CS"): "dicom",  # no preamble: the extension decides
        ("clip", mp4_head): "video",
        ("voice.m4a", mp4_head): "audio",
        ("brain.nii.gz", b"\x1f\x8b\x08"): "nifti",
        ("setup.exe", b"MZ\x90\x00"): None,
        ("README", b"hello"): None,
    }
    assert {key[0]: upload_detect_kind(name=key[0], head=key[1][:512]) for key in cases} == {
        key[0]: kind for key, kind in cases.items()}


def test_safe_filenames():
    assert [upload_safe_filename(n) for n in ["../../etc/passwd.jpg", "..", "", "C:\\x\\y.png", "ü ñ.wav",
                                              "a" * 200 + ".nii.gz"]] == [
        "passwd.jpg", "upload", "upload", "y.png", "ü_ñ.wav", "a" * 143 + ".nii.gz"]
