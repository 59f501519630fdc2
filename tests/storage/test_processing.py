"""Probing and container processing: real files, a real Celery worker, real HTTP, file and S3 reads.

Worker tests submit a registration through ``import_job_create_from_data`` and wait until the
worker has left no item pending. The in-process tests call the services directly where the worker
is not the point (idempotency, crash re-runs, row locks, refusals that never touch the network).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import av
import boto3
import pydicom
import pytest
from django.core.files.storage import default_storage
from django.db import connection, transaction
from moto.server import ThreadedMotoServer
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import RLELossless

from apps.storage.models import ImportJob, ImportJobError, ImportJobStatus, Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create
from apps.imports.services.imports import import_job_create_from_data, import_job_run
from apps.storage.services.integrations import integration_builtin_get_or_create, integration_s3_create
from apps.storage.services.processing import item_container_process, item_probe
from tests.media_factory import (
    make_dicom_series, make_jpeg, make_mp4, make_pdf, make_png, make_text, make_wav,
)

SETTLE_SECONDS = 60
BROKEN_BYTES = bytes(range(256)) * 8  # no image format starts like this


@pytest.fixture
def user(org, make_user):
    return make_user(org, email="prober@example.com")


@pytest.fixture
def folder(user, org):
    return folder_create(user=user, name="media", organisation=org)


@pytest.fixture
def stored_media():
    """Remove the previews and renders the test's items wrote to media storage."""
    yield
    for pk in Item.objects.values_list("pk", flat=True):
        shutil.rmtree(Path(default_storage.path(f"previews/{pk}")), ignore_errors=True)
        Path(default_storage.path(f"renders/{pk}.mp4")).unlink(missing_ok=True)


@pytest.fixture
def worker(transactional_db, celery_worker_process, stored_media):
    return celery_worker_process


def _settle(job: ImportJob) -> ImportJob:
    """Wait until the job is finished and none of its items (children included) is pending."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished and not Item.objects.filter(import_job=job, status=ItemStatus.PENDING).exists():
            return job
        time.sleep(0.1)
    pending = Item.objects.filter(import_job=job, status=ItemStatus.PENDING).values_list("name", flat=True)
    raise AssertionError(f"job {job.status}: items still pending after {SETTLE_SECONDS} s: {list(pending)}")


def _import(user, folder, data: dict, **options) -> ImportJob:
    return _settle(import_job_create_from_data(user=user, folder=folder, data=data, **options))


def _top(job: ImportJob, index: int) -> Item:
    return Item.objects.get(import_job=job, import_index=index, parent__isnull=True)


def _children(parent: Item) -> list[Item]:
    return list(parent.children.order_by("position"))


def _stored_size(name: str) -> tuple[int, int]:
    with default_storage.open(name) as handle, Image.open(handle) as image:
        return image.size


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _file_url(path: Path) -> str:
    return f"file://{path}"


# --------------------------------------------------------------------------- single files, real worker


def test_images_from_file_and_http_urls_get_sizes_and_thumbnails(worker, user, folder, test_files,
                                                                   http_files):
    photo = make_jpeg(test_files / "photo.jpg", size=(640, 480))
    tall = make_png(test_files / "tall.png", size=(100, 300))
    job = _import(user, folder, {"images": [
        {"objectUrl": _file_url(photo)}, {"objectUrl": f"{http_files}/tall.png"},
    ]})

    first, second = _top(job, 0), _top(job, 1)
    assert (first.status, first.status_reason, first.media_source) == (ItemStatus.READY, "", "probed")
    assert (first.width, first.height, first.mime_type, first.file_size) == (640, 480, "image/jpeg",
                                                                             photo.stat().st_size)
    assert first.media_info == {"format": "JPEG"}
    assert first.preview == f"previews/{first.pk}/thumb.jpg"
    assert _stored_size(first.preview) == (256, 192)
    assert (second.status, second.width, second.height, second.mime_type, second.file_size) == (
        ItemStatus.READY, 100, 300, "image/png", tall.stat().st_size)
    assert _stored_size(second.preview) == (85, 256)
    assert job.errors.count() == 0


def test_video_gets_fps_frames_duration_codec_poster_and_strip(worker, user, folder, test_files):
    video = make_mp4(test_files / "clip.mp4", frames=30, fps=10, size=(64, 48))
    job = _import(user, folder, {"videos": [{"objectUrl": _file_url(video)}]})

    item = _top(job, 0)
    assert item.status == ItemStatus.READY
    facts = (item.width, item.height, item.fps, item.frame_count, item.duration, item.codec, item.mime_type)
    assert facts == (64, 48, 10.0, 30, 3.0, "h264", "video/mp4")
    assert item.file_size == video.stat().st_size
    assert item.preview == f"previews/{item.pk}/poster.jpg"
    assert _stored_size(item.preview) == (64, 48)
    assert item.preview_frames == [
        {"frame": frame, "time": frame / 10, "path": f"previews/{item.pk}/frame_{frame:06d}.jpg"}
        for frame in (1, 5, 9, 13, 16, 20, 24, 28)
    ]
    assert all(default_storage.exists(entry["path"]) for entry in item.preview_frames)


def test_audio_gets_sample_rate_channels_duration_and_waveform(worker, user, folder, test_files, http_files):
    make_wav(test_files / "tone.wav", seconds=1.0, rate=8000, channels=2)
    job = _import(user, folder, {"audio": [{"objectUrl": f"{http_files}/tone.wav"}]})

    item = _top(job, 0)
    assert item.status == ItemStatus.READY
    assert (item.audio_sample_rate, item.audio_num_channels, item.audio_bit_depth, item.duration) == (
        8000, 2, 16, 1.0)
    assert (item.codec, item.mime_type, item.file_size) == ("pcm_s16le", "audio/wav", 32044)
    waveform = item.media_info.pop("waveform")
    assert item.media_info == {}
    assert len(waveform) == 800
    assert max(waveform) == 0.5  # the tone's amplitude
    assert item.preview == f"previews/{item.pk}/waveform.png"
    assert _stored_size(item.preview) == (800, 120)


def test_pdf_gets_page_count_and_first_page_preview(worker, user, folder, test_files):
    pdf = make_pdf(test_files / "doc.pdf", pages=3, size=(200, 100))
    job = _import(user, folder, {"pdf": [{"objectUrl": _file_url(pdf), "title": "contract.pdf"}]})

    item = _top(job, 0)
    assert (item.status, item.name, item.page_count, item.mime_type, item.file_size) == (
        ItemStatus.READY, "contract.pdf", 3, "application/pdf", pdf.stat().st_size)
    assert item.preview == f"previews/{item.pk}/page_1.jpg"
    assert _stored_size(item.preview) == (256, 128)


def test_text_gets_encoding_line_count_and_snippet(worker, user, folder, test_files):
    text = make_text(test_files / "notes.txt", "héllo\nwörld\n")
    job = _import(user, folder, {"text": [{"objectUrl": _file_url(text)}]})

    item = _top(job, 0)
    assert (item.status, item.mime_type, item.file_size, item.preview) == (
        ItemStatus.READY, "text/plain", 14, "")
    assert item.media_info == {"encoding": "utf-8", "line_count": 2, "snippet": "héllo\nwörld\n"}


# --------------------------------------------------------------------------- containers, real worker


def test_dicom_series_orders_slices_by_instance_number(worker, user, folder, test_files):
    slice_1, slice_2, slice_3 = make_dicom_series(test_files / "ct", slices=3, rows=32, cols=40)
    reference = pydicom.dcmread(slice_1)
    job = _import(user, folder, {"dicom_series": [{
        "title": "ct-1", "objectUrl_0": _file_url(slice_2), "objectUrl_1": _file_url(slice_3),
        "objectUrl_2": _file_url(slice_1),
    }]})

    series = _top(job, 0)
    at_2, at_3, at_1 = _children(series)  # children keep the URL order
    assert [child.item_type for child in (at_2, at_3, at_1)] == [ItemType.DICOM_FILE] * 3
    assert [child.status for child in (at_2, at_3, at_1)] == [ItemStatus.READY] * 3
    assert [child.media_info["instance_number"] for child in (at_2, at_3, at_1)] == [2, 3, 1]
    assert series.status == ItemStatus.READY
    assert series.media_info == {
        "child_count": 3, "failed_children": 0, "modality": "CT",
        "slice_order": [str(at_1.pk), str(at_2.pk), str(at_3.pk)],
    }
    assert (series.dicom_study_uid, series.dicom_series_uid) == (
        reference.StudyInstanceUID, reference.SeriesInstanceUID)
    assert (series.frame_count, series.width, series.height, series.mime_type) == (
        3, 40, 32, "application/dicom")
    assert series.preview == at_2.preview == f"previews/{at_2.pk}/slice.png"  # the middle slice, instance 2
    for child in (at_2, at_3, at_1):
        assert child.preview == f"previews/{child.pk}/slice.png"
        assert _stored_size(child.preview) == (40, 32)
        assert child.dicom_series_uid == reference.SeriesInstanceUID


def test_image_group_with_one_bad_child_is_ready_and_reports_it(worker, user, folder, test_files, http_files):
    make_jpeg(test_files / "wide.jpg", size=(300, 100))
    make_png(test_files / "small.png", size=(20, 30))
    (test_files / "broken.jpg").write_bytes(BROKEN_BYTES)
    job = _import(user, folder, {"image_groups": [{
        "title": "group-1", "objectUrl_0": f"{http_files}/wide.jpg",
        "objectUrl_1": _file_url(test_files / "small.png"),
        "objectUrl_2": _file_url(test_files / "broken.jpg"),
    }]})

    group = _top(job, 0)
    wide, small, broken = _children(group)
    assert [(c.status, c.width, c.height) for c in (wide, small)] == [
        (ItemStatus.READY, 300, 100), (ItemStatus.READY, 20, 30)]
    assert _stored_size(small.preview) == (20, 30)
    assert (broken.status, broken.status_reason) == (ItemStatus.FAILED,
                                                     "Pillow cannot identify image file: broken.jpg")
    assert (group.status, group.item_type, group.width, group.height) == (
        ItemStatus.READY, ItemType.IMAGE_GROUP, 300, 100)
    assert group.preview == wide.preview == f"previews/{wide.pk}/thumb.jpg"
    assert group.media_info == {"child_count": 3, "failed_children": 1}
    assert list(job.errors.values("entry_index", "pointer", "reason", "urls", "stage")) == [{
        "entry_index": 0, "pointer": "/image_groups/0", "stage": "probe",
        "reason": "Pillow cannot identify image file: broken.jpg",
        "urls": [_file_url(test_files / "broken.jpg")],
    }]


def test_image_sequence_renders_one_frame_per_image_at_the_first_size(worker, user, folder, test_files):
    sizes = [(64, 48), (32, 32), (100, 40), (48, 64), (64, 48)]
    urls = {f"objectUrl_{n}": _file_url(make_png(test_files / f"img_{n}.png", size=size))
            for n, size in enumerate(sizes)}
    job = _import(user, folder, {"image_groups": [{"title": "timelapse", "createVideo": True, **urls}]})

    sequence = _top(job, 0)
    assert (sequence.status, sequence.item_type) == (ItemStatus.READY, ItemType.IMAGE_SEQUENCE)
    assert (sequence.width, sequence.height, sequence.fps, sequence.frame_count, sequence.duration) == (
        64, 48, 25.0, 5, 0.2)
    assert (sequence.codec, sequence.mime_type, sequence.media_source) == ("h264", "video/mp4", "probed")
    assert sequence.rendered == f"renders/{sequence.pk}.mp4"
    assert sequence.file_size == default_storage.size(sequence.rendered)
    with av.open(default_storage.path(sequence.rendered)) as container:
        frames = [(frame.width, frame.height) for frame in container.decode(video=0)]
    assert frames == [(64, 48)] * 5
    assert sequence.preview == f"previews/{sequence.pk}/poster.jpg"
    assert [entry["frame"] for entry in sequence.preview_frames] == [0, 1, 2, 3, 4]
    children = _children(sequence)
    assert [(c.item_type, c.status, c.width, c.height) for c in children] == [
        (ItemType.IMAGE, ItemStatus.READY, width, height) for width, height in sizes]


# --------------------------------------------------------------------------- failures, real worker


def test_unreadable_files_are_kept_failed_with_reasons_and_job_errors(worker, user, folder, test_files,
                                                                       tmp_path):
    (test_files / "noise.jpg").write_bytes(BROKEN_BYTES)
    outside = make_jpeg(tmp_path / "outside.jpg")
    port = _closed_port()
    urls = [
        _file_url(test_files / "noise.jpg"),
        f"http://127.0.0.1:{port}/gone.jpg",
        "http://10.1.2.3/x.jpg",  # refused before any connection is attempted
        _file_url(outside),
        "s3://bucket/key.jpg",
    ]
    job = _import(user, folder, {"images": [{"objectUrl": url} for url in urls]})

    reasons = [
        "Pillow cannot identify image file: noise.jpg",
        f"http://127.0.0.1:{port}/gone.jpg could not be reached (Connection refused).",
        "http://10.1.2.3/x.jpg resolves to 10.1.2.3, a private address; "
        "an admin can allow it with LOUPE_FETCH_ALLOW_HOSTS.",
        f"{_file_url(outside)} is outside the folders Loupe may read (LOUPE_LOCAL_ROOTS).",
    ]
    items = [_top(job, index) for index in range(4)]
    assert [(item.status, item.status_reason, item.media_source) for item in items] == [
        (ItemStatus.FAILED, reason, "") for reason in reasons]
    assert not Item.objects.filter(import_job=job, import_index=4).exists()
    # Each entry counted once: the 4 unreadable ones are probe_failed, not done.
    assert (job.status, job.registered, job.done, job.failed, job.probe_failed) == (ImportJobStatus.DONE, 4, 0, 1, 4)
    assert list(job.errors.values_list("entry_index", "pointer", "reason", "urls", "stage")) == [
        *((index, f"/images/{index}/objectUrl", reason, [urls[index]], "probe")
          for index, reason in enumerate(reasons)),
        (4, "/images/4/objectUrl", "s3://bucket/key.jpg needs an S3 storage integration; this import uses "
                                   "'Public URLs and local files'", ["s3://bucket/key.jpg"], "entry"),
    ]


# --------------------------------------------------------------------------- S3, real worker and server


@pytest.fixture
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_s3_object_is_read_with_the_integration_credentials(worker, user, folder, org, s3_endpoint, tmp_path):
    photo = make_jpeg(tmp_path / "photo.jpg", size=(120, 90))
    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="loupe-test")
    client.put_object(Bucket="loupe-test", Key="cam/photo.jpg", Body=photo.read_bytes())
    integration = integration_s3_create(
        organisation=org, name="Local S3", endpoint_url=s3_endpoint, access_key_id="test",
        secret_access_key="test", region="us-east-1",
    )
    job = _import(user, folder, {"images": [
        {"objectUrl": "s3://loupe-test/cam/photo.jpg"}, {"objectUrl": "s3://loupe-test/cam/missing.jpg"},
    ]}, integration=integration)

    found, missing = _top(job, 0), _top(job, 1)
    assert (found.status, found.width, found.height, found.file_size, found.mime_type) == (
        ItemStatus.READY, 120, 90, photo.stat().st_size, "image/jpeg")
    assert _stored_size(found.preview) == (120, 90)
    assert (missing.status, missing.status_reason) == (ItemStatus.FAILED,
                                                       "s3://loupe-test/cam/missing.jpg does not exist.")


# --------------------------------------------------------------------------- in-process


def _run_import_here(user, folder, data: dict) -> ImportJob:
    """Register entries without a worker: in a ``db`` test on_commit never fires, so nothing is queued."""
    job = import_job_create_from_data(user=user, folder=folder, data=data)
    return import_job_run(job_id=job.pk)


def test_probing_twice_probes_once(db, stored_media, user, folder, test_files):
    photo = make_jpeg(test_files / "a.jpg")
    job = _run_import_here(user, folder, {"images": [{"objectUrl": _file_url(photo)}]})
    item = _top(job, 0)
    assert item.status == ItemStatus.PENDING

    probed = item_probe(item_id=item.pk)
    assert (probed.status, probed.width, probed.height) == (ItemStatus.READY, 64, 48)
    before = Item.objects.filter(pk=item.pk).values().get()
    assert item_probe(item_id=item.pk) is None
    assert Item.objects.filter(pk=item.pk).values().get() == before


def test_a_probed_file_whose_preview_fails_stays_ready(db, stored_media, user, folder, test_files):
    dataset = pydicom.dcmread(make_dicom_series(test_files / "ct", slices=1)[0])
    dataset.file_meta.TransferSyntaxUID = RLELossless  # the header reads; the pixel data does not decode
    dataset.PixelData = encapsulate([b"\x07" * 64])
    dataset["PixelData"].VR = "OB"
    dataset["PixelData"].is_undefined_length = True
    dataset.save_as(test_files / "bad.dcm", enforce_file_format=True)
    bad = _file_url(test_files / "bad.dcm")
    job = _run_import_here(user, folder, {"dicom_series": [{"objectUrl_0": bad}]})

    series = item_container_process(item_id=_top(job, 0).pk)
    (child,) = _children(series)
    assert (child.status, child.width, child.height, child.preview) == (ItemStatus.READY, 32, 32, "")
    assert child.media_info["preview_error"] == (
        "pydicom cannot decode the pixels of bad.dcm: Unable to decode as exceptions were raised by all "
        "available plugins:\n  pydicom: The RLE header specifies an invalid number of segments (117901063)"
    )
    assert (series.status, series.preview, series.frame_count) == (ItemStatus.READY, "", 1)


def test_container_rerun_after_a_crash_skips_finished_children(db, stored_media, user, folder, test_files):
    urls = {f"objectUrl_{n}": _file_url(make_jpeg(test_files / f"{n}.jpg", size=(10 + n, 10)))
            for n in range(3)}
    job = _run_import_here(user, folder, {"image_groups": [{"title": "g", **urls}]})
    group = _top(job, 0)
    first = _children(group)[0]
    item_probe(item_id=first.pk)  # the worker got this far, then died
    first_row = Item.objects.filter(pk=first.pk).values().get()

    done = item_container_process(item_id=group.pk)
    assert (done.status, done.width, done.height, done.media_info) == (
        ItemStatus.READY, 10, 10, {"child_count": 3, "failed_children": 0})
    assert [(c.status, c.width) for c in _children(group)] == [(ItemStatus.READY, 10 + n) for n in range(3)]
    assert Item.objects.filter(pk=first.pk).values().get() == first_row
    assert item_container_process(item_id=group.pk) is None


def test_sequence_renders_only_its_readable_images(db, stored_media, user, folder, test_files):
    make_png(test_files / "0.png", size=(40, 30))
    (test_files / "1.png").write_bytes(BROKEN_BYTES)
    make_png(test_files / "2.png", size=(30, 40))
    urls = {f"objectUrl_{n}": _file_url(test_files / f"{n}.png") for n in range(3)}
    job = _run_import_here(user, folder, {"image_groups": [{"title": "s", "createVideo": True, **urls}]})

    sequence = item_container_process(item_id=_top(job, 0).pk)
    assert (sequence.status, sequence.frame_count, sequence.width, sequence.height) == (
        ItemStatus.READY, 2, 40, 30)
    assert sequence.media_info == {"child_count": 3, "failed_children": 1}
    with av.open(default_storage.path(sequence.rendered)) as container:
        assert [(frame.width, frame.height) for frame in container.decode(video=0)] == [(40, 30)] * 2


def test_a_container_without_one_readable_file_fails_and_is_kept(db, stored_media, user, folder, test_files):
    (test_files / "broken.jpg").write_bytes(BROKEN_BYTES)
    url = _file_url(test_files / "broken.jpg")
    job = _run_import_here(
        user, folder, {"images": [{"objectUrl": url}], "image_groups": [{"objectUrl_0": url}]}
    )

    group = item_container_process(item_id=_top(job, 1).pk)
    reason = "Its only file could not be read: Pillow cannot identify image file: broken.jpg"
    assert (group.status, group.status_reason, group.preview) == (ItemStatus.FAILED, reason, "")
    assert Item.objects.filter(pk=group.pk, deleted_at__isnull=True).exists()
    assert list(job.errors.values_list("entry_index", "pointer", "reason", "stage")) == [
        (1, "/image_groups/0", "Pillow cannot identify image file: broken.jpg", "probe"),
    ]


def test_dicom_files_of_two_series_are_kept_and_the_larger_names_the_series(db, stored_media, user, folder,
                                                                             test_files):
    a_1, a_2 = make_dicom_series(test_files / "a", slices=2, series_uid="1.2.3.1")
    (b_1,) = make_dicom_series(test_files / "b", slices=1, series_uid="1.2.3.2")
    urls = {f"objectUrl_{n}": _file_url(path) for n, path in enumerate((b_1, a_2, a_1))}
    job = _run_import_here(user, folder, {"dicom_series": [urls]})

    series = item_container_process(item_id=_top(job, 0).pk)
    at_b1, at_a2, at_a1 = _children(series)
    assert (series.status, series.dicom_series_uid, series.frame_count) == (ItemStatus.READY, "1.2.3.1", 3)
    assert series.media_info == {
        "child_count": 3, "failed_children": 0, "modality": "CT",
        "slice_order": [str(at_a1.pk), str(at_a2.pk), str(at_b1.pk)],
        "series_uids": {"1.2.3.1": 2, "1.2.3.2": 1},
    }
    assert series.preview == at_a2.preview  # the middle (upper of two) slice of the larger series


def test_s3_url_without_an_s3_integration_is_refused_before_any_request(db, org, folder):
    # The import engine already refuses such entries; this row stands for one registered by other means.
    item = Item.objects.create(
        organisation=org, folder=folder, item_type=ItemType.IMAGE, name="key.jpg", url="s3://bucket/key.jpg",
        integration=integration_builtin_get_or_create(organisation=org),
    )
    probed = item_probe(item_id=item.pk)
    assert (probed.status, probed.status_reason) == (
        ItemStatus.FAILED,
        "s3://bucket/key.jpg needs an S3 storage integration; this item uses 'Public URLs and local files'.",
    )
    assert ImportJobError.objects.count() == 0


def test_s3_integration_without_keys_is_not_read_with_server_credentials(db, org, folder):
    keyless = integration_s3_create(organisation=org, name="Keyless", endpoint_url="http://127.0.0.1:9")
    item = Item.objects.create(
        organisation=org, folder=folder, item_type=ItemType.IMAGE, name="k.jpg", url="s3://bucket/k.jpg",
        integration=keyless,
    )
    probed = item_probe(item_id=item.pk)
    assert (probed.status, probed.status_reason) == (
        ItemStatus.FAILED,
        "s3://bucket/k.jpg: the S3 integration 'Keyless' has no access key and secret, and Loupe never "
        "falls back to the server's own credentials.",
    )


def test_a_client_only_integration_is_never_read(db, org, folder, test_files):
    client_only = integration_s3_create(organisation=org, name="Browser only", client_only=True,
                                        access_key_id="k", secret_access_key="s")
    url = _file_url(make_jpeg(test_files / "a.jpg"))
    item = Item.objects.create(
        organisation=org, folder=folder, item_type=ItemType.IMAGE, name="a.jpg", url=url, integration=client_only,
    )
    probed = item_probe(item_id=item.pk)
    assert (probed.status, probed.status_reason) == (
        ItemStatus.FAILED,
        f"{url} is in the client-only storage integration 'Browser only': Loupe never reads its files.",
    )


def test_an_item_being_probed_elsewhere_is_skipped(transactional_db, stored_media, org, folder, test_files):
    # A row made here rather than by an import: committing an import would queue it for a live worker.
    item = Item.objects.create(
        organisation=org, folder=folder, item_type=ItemType.IMAGE, name="a.jpg",
        url=_file_url(make_jpeg(test_files / "a.jpg")),
        integration=integration_builtin_get_or_create(organisation=org),
    )
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        with transaction.atomic():
            Item.objects.select_for_update().get(pk=item.pk)
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        assert item_probe(item_id=item.pk) is None
        assert Item.objects.get(pk=item.pk).status == ItemStatus.PENDING
    finally:
        release.set()
        thread.join()
    assert item_probe(item_id=item.pk).status == ItemStatus.READY
