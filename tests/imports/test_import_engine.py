"""The import engine, run in-process: batching, errors with pointers, duplicates, resume, cancel.

Jobs here are run by calling ``import_job_run`` directly (the worker path is covered in
test_import_resume.py and the API tests); on-commit task sends do not fire inside these tests.
"""

from __future__ import annotations

import json
import time

import pytest
from django.core.files.base import ContentFile

from apps.imports import importformat
from apps.storage.models import ImportJob, ImportJobError, ImportJobStatus, Item, ItemStatus, ItemType
from apps.imports.services import imports
from apps.storage.services.folders import folder_create
from apps.imports.services.imports import import_job_cancel, import_job_create, import_job_run
from apps.storage.services.integrations import integration_s3_create


@pytest.fixture
def editor(db, org, make_user):
    return make_user(org, email="editor@example.com")


@pytest.fixture
def folder(editor, org):
    return folder_create(user=editor, name="data", organisation=org)


def _image(i, **extra):
    return {"objectUrl": f"https://cdn.example.com/img/{i}.jpg",
            "imageMetadata": {"mime_type": "image/jpeg", "file_size": 1000 + i, "width": 640, "height": 480},
            "clientMetadata": {"n": i}} | extra


def _run(editor, folder, data, **options) -> ImportJob:
    job = import_job_create(user=editor, folder=folder, fileobj=ContentFile(json.dumps(data).encode(), name="f.json"),
                            **options)
    return import_job_run(job_id=job.pk)


def test_mixed_file_registers_valid_entries_and_reports_the_rest(editor, folder):
    data = {
        "images": [_image(0), {"objectUrl": 12}, _image(2)],
        "videos": [{"objectUrl": "https://cdn.example.com/v.mp4", "title": "clip",
                    "videoMetadata": {"fps": 25, "duration": 4.0, "width": 1280, "height": 720,
                                      "file_size": 5000, "mime_type": "video/mp4"}},
                   {"objectUrl": "https://cdn.example.com/needs-probe.mp4"},
                   {"objectUrl": "https://cdn.example.com/x.mp4", "objectURL": "typo"}],
    }
    job = _run(editor, folder, data)

    assert (job.status, job.total, job.done, job.skipped, job.failed, job.pending) == ("DONE", 6, 4, 0, 2, 0)
    assert list(job.errors.values_list("entry_index", "pointer", "stage")) == [
        (1, "/images/1/objectUrl", "entry"), (5, "/videos/2/objectURL", "entry"),
    ]
    assert job.errors.get(entry_index=1).reason == "must be a string, not 12"
    items = {item.name: item for item in Item.objects.filter(import_job=job)}
    assert sorted(items) == ["/img/0.jpg", "/img/2.jpg", "/needs-probe.mp4", "clip"]
    clip = items["clip"]
    assert (clip.item_type, clip.status, clip.media_source, clip.fps, clip.frame_count, clip.width) == (
        ItemType.VIDEO, ItemStatus.READY, "supplied", 25.0, 100, 1280)
    assert items["/img/2.jpg"].client_metadata == {"n": 2}
    assert items["/img/2.jpg"].file_size == 1002
    assert items["/needs-probe.mp4"].status == ItemStatus.PENDING
    assert sorted(Item.objects.filter(import_job=job).values_list("import_index", flat=True)) == [0, 2, 3, 4]


def test_containers_get_children_in_position_order(editor, folder):
    data = {
        "image_groups": [
            {"title": "group", "objectUrl_1": "https://h/g/b.jpg", "objectUrl_0": "https://h/g/a.jpg",
             "clientMetadata": {"scene": "night"}},
            {"title": "sequence", "createVideo": True, "objectUrl_0": "https://h/s/0.jpg",
             "objectUrl_1": "https://h/s/1.jpg", "objectUrl_2": "https://h/s/2.jpg"},
        ],
        "dicom_series": [{"title": "ct", "objectUrl_0": "https://h/d/1.dcm", "objectUrl_1": "https://h/d/2.dcm"}],
    }
    job = _run(editor, folder, data)

    assert (job.status, job.done, job.failed) == ("DONE", 3, 0)
    parents = {p.name: p for p in Item.objects.filter(import_job=job, parent__isnull=True)}
    assert {name: p.item_type for name, p in parents.items()} == {
        "group": ItemType.IMAGE_GROUP, "sequence": ItemType.IMAGE_SEQUENCE, "ct": ItemType.DICOM_SERIES}
    assert parents["group"].client_metadata == {"scene": "night"}
    children = lambda name: list(parents[name].children.order_by("position").values_list("position", "url", "item_type"))
    assert children("group") == [(0, "https://h/g/a.jpg", "image"), (1, "https://h/g/b.jpg", "image")]
    assert [url for _, url, _ in children("sequence")] == [f"https://h/s/{i}.jpg" for i in range(3)]
    assert children("ct") == [(0, "https://h/d/1.dcm", "dicom_file"), (1, "https://h/d/2.dcm", "dicom_file")]
    assert Item.objects.filter(folder=folder).count() == 10


def test_skip_duplicate_urls_makes_a_rerun_a_no_op(editor, folder):
    data = {"images": [_image(0), _image(1), _image(0)], "skip_duplicate_urls": True}
    first = _run(editor, folder, data)
    second = _run(editor, folder, data)

    assert (first.done, first.skipped) == (2, 1)
    assert (second.done, second.skipped, second.failed) == (0, 3, 0)
    assert Item.objects.filter(folder=folder).count() == 2


def test_upsert_metadata_replaces_metadata_of_duplicates(editor, folder):
    _run(editor, folder, {"images": [_image(0), _image(1)]})
    job = _run(editor, folder, {"images": [_image(0, clientMetadata={"n": 100, "new": True})],
                                "skip_duplicate_urls": True, "upsert_metadata": True})

    assert (job.done, job.skipped) == (1, 0)
    assert Item.objects.filter(folder=folder).count() == 2
    assert Item.objects.get(url__endswith="/0.jpg").client_metadata == {"n": 100, "new": True}
    assert Item.objects.get(url__endswith="/1.jpg").client_metadata == {"n": 1}


def test_all_or_nothing_writes_nothing_when_one_entry_is_bad(editor, folder):
    job = _run(editor, folder, {"images": [_image(0), {"objectUrl": ""}]}, all_or_nothing=True)

    assert job.status == ImportJobStatus.ERROR
    assert job.error == "Nothing was imported: the file has invalid entries."
    assert list(job.errors.values_list("pointer", flat=True)) == ["/images/1/objectUrl"]
    assert (job.done, job.failed) == (0, 1)
    assert Item.objects.count() == 0


@pytest.mark.parametrize("payload, message", [
    (b'{"images": [', "not valid JSON: parse error: premature EOF near byte 12 (line 1, column 13)"),
    (b'[1, 2]', "the top level must be an object, not a list"),
    (b'{"photos": []}', '/photos: unknown top-level key "photos"'),
])
def test_file_level_errors_fail_the_job_and_write_nothing(editor, folder, payload, message):
    job = import_job_create(user=editor, folder=folder, fileobj=ContentFile(payload, name="bad.json"))
    job = import_job_run(job_id=job.pk)
    assert job.status == ImportJobStatus.ERROR
    assert job.error == message
    assert Item.objects.count() == 0


def test_limits_are_enforced_before_anything_is_written(editor, folder, monkeypatch):
    monkeypatch.setattr(importformat, "LIMITS", importformat.Limits(max_entries=2))
    job = _run(editor, folder, {"images": [_image(0), _image(1), _image(2)]})
    assert job.status == ImportJobStatus.ERROR
    assert "3 entries" in job.error and "500,000" not in job.error
    assert Item.objects.count() == 0


def test_crash_between_batches_resumes_without_duplicates(editor, folder, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_ENTRIES", 10)
    real_commit = imports._write_batch
    calls = {"n": 0}

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(imports, "_write_batch", crash_on_third)
    job = import_job_create(user=editor, folder=folder, fileobj=ContentFile(
        json.dumps({"images": [_image(i) for i in range(45)] + [{"objectUrl": 7}]}).encode(), name="f.json"))
    with pytest.raises(SystemExit):
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.next_index, job.done) == ("RUNNING", 20, 20)

    monkeypatch.setattr(imports, "_write_batch", real_commit)
    job = import_job_run(job_id=job.pk)

    assert (job.status, job.done, job.failed, job.next_index) == ("DONE", 45, 1, 46)
    indexes = list(Item.objects.filter(import_job=job).values_list("import_index", flat=True))
    assert sorted(indexes) == list(range(45))


def test_a_second_runner_skips_batches_already_committed(editor, folder, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_ENTRIES", 10)
    job = _run(editor, folder, {"images": [_image(i) for i in range(25)]})
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJobStatus.RUNNING)  # as if redelivered

    again = import_job_run(job_id=job.pk)

    assert (again.status, again.done) == ("DONE", 25)
    assert Item.objects.filter(import_job=job).count() == 25


def test_cancel_before_start_and_between_batches(editor, folder, monkeypatch):
    pending = import_job_create(user=editor, folder=folder, fileobj=ContentFile(b'{"images": []}', name="a.json"))
    assert import_job_cancel(user=editor, job=pending).status == ImportJobStatus.CANCELLED
    assert import_job_run(job_id=pending.pk).status == ImportJobStatus.CANCELLED

    monkeypatch.setattr(imports, "BATCH_ENTRIES", 10)
    real_commit = imports._write_batch

    def cancel_after_first(job, *args, **kwargs):
        result = real_commit(job, *args, **kwargs)
        ImportJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        return result

    monkeypatch.setattr(imports, "_write_batch", cancel_after_first)
    job = _run(editor, folder, {"images": [_image(i) for i in range(30)]})
    assert (job.status, job.done, job.pending) == ("CANCELLED", 10, 20)
    assert Item.objects.filter(import_job=job).count() == 10


def test_client_only_integration_requires_media_metadata(editor, folder, org):
    integration = integration_s3_create(organisation=org, name="strict", client_only=True)
    data = {"images": [_image(0), {"objectUrl": "s3://bucket/1.jpg"}],
            "pdf": [{"objectUrl": "s3://bucket/doc.pdf"}]}
    job = _run(editor, folder, data, integration=integration)

    assert (job.done, job.failed) == (2, 1)
    error = job.errors.get()
    assert error.pointer == "/images/1/imageMetadata"
    assert error.reason.startswith("the integration 'strict' is client-only")
    statuses = set(Item.objects.filter(import_job=job).values_list("status", flat=True))
    assert statuses == {ItemStatus.READY}


def test_s3_urls_need_an_s3_integration(editor, folder):
    job = _run(editor, folder, {"images": [{"objectUrl": "s3://bucket/a.jpg"}]})
    error = job.errors.get()
    assert (error.pointer, job.done) == ("/images/0/objectUrl", 0)
    assert error.reason == ("s3://bucket/a.jpg needs an S3 storage integration; this import uses "
                            "'Public URLs and local files'")


def test_viewer_cannot_submit_and_nothing_is_stored(folder, org, make_user, editor):
    from django.core.exceptions import PermissionDenied

    from apps.storage.services.folders import folder_member_set

    viewer = make_user(org, email="viewer@example.com")
    folder_member_set(user=editor, folder=folder, member=viewer, role="viewer")
    with pytest.raises(PermissionDenied):
        import_job_create(user=viewer, folder=folder, fileobj=ContentFile(b"{}", name="x.json"))
    assert ImportJob.objects.count() == 0
    assert ImportJobError.objects.count() == 0


def test_import_file_over_the_size_limit_is_refused_up_front(editor, folder, settings):
    from apps.core.errors import ServiceValidationError

    settings.LOUPE_IMPORT_MAX_BYTES = 100
    body = json.dumps({"images": [_image(i) for i in range(5)]}).encode()
    with pytest.raises(ServiceValidationError) as caught:
        import_job_create(user=editor, folder=folder, fileobj=ContentFile(body, name="big.json"))
    assert caught.value.message_dict == {
        "file": [f"The import file is {len(body):,} bytes; the limit is 100 (LOUPE_IMPORT_MAX_BYTES)."]}
    assert ImportJob.objects.count() == 0


def test_metadata_is_validated_against_the_schema_at_import(editor, folder, org, make_user):
    from apps.metadata.services.schema import schema_key_add

    admin = make_user(org, role="admin", email="orgadmin@example.com")
    schema_key_add(user=admin, organisation=org, name="score", type="number")
    schema_key_add(user=admin, organisation=org, name="seen", type="datetime")
    job = _run(editor, folder, {"images": [
        _image(0, clientMetadata={"score": 0.5, "seen": "2024-05-01T10:00:00"}),
        _image(1, clientMetadata={"score": "high"}),
    ]})
    assert (job.done, job.failed) == (1, 1)
    error = job.errors.get()
    assert (error.pointer, error.reason) == ("/images/1/clientMetadata/score", 'key "score": expected number, got "high"')
    assert Item.objects.get(import_job=job).client_metadata == {"score": 0.5, "seen": "2024-05-01T10:00:00+00:00"}


@pytest.mark.parametrize("declared", [False, True], ids=["no-schema", "schema-without-these-keys"])
def test_metadata_over_the_size_limit_fails_its_entry_in_utf8_bytes(editor, folder, org, make_user, settings,
                                                                     declared):
    """Untyped metadata skips the Python walk (its JSON is encoded once, for the size and the COPY):
    the limit still counts UTF-8 bytes of compact JSON, as the metadata API does."""
    from apps.metadata.services.schema import schema_key_add

    if declared:
        admin = make_user(org, role="admin", email="orgadmin@example.com")
        schema_key_add(user=admin, organisation=org, name="score", type="number")
    settings.LOUPE_METADATA_MAX_BYTES = 40
    fits, over = {"note": "é" * 10}, {"note": "é" * 16}  # 31 and 43 bytes, 21 and 27 characters
    job = _run(editor, folder, {"images": [_image(0, clientMetadata=fits), _image(1, clientMetadata=over)]})
    assert (job.done, job.failed) == (1, 1)
    error = job.errors.get()
    assert (error.entry_index, error.pointer, error.reason) == (
        1, "/images/1/clientMetadata", "metadata: 43 bytes of JSON, more than the limit of 40 bytes")
    assert Item.objects.get(import_job=job).client_metadata == fits


@pytest.mark.parametrize("checks_skipped", [True, False], ids=["fk-checks-by-construction", "fk-checks-per-row"])
def test_embeddings_and_key_frames_are_stored_at_import(editor, folder, org, make_user, monkeypatch, checks_skipped):
    from apps.core import foreign_keys

    monkeypatch.setattr(foreign_keys, "_may_set_replication_role", lambda cursor: checks_skipped)
    from apps.metadata.models import Embedding
    from apps.metadata.records import Frame
    from apps.metadata.services.derived import metadata_with_vectors
    from apps.metadata.services.schema import schema_key_add

    admin = make_user(org, role="admin", email="orgadmin@example.com")
    schema_key_add(user=admin, organisation=org, name="clip", type="embedding", size=3)
    video = {"objectUrl": "https://cdn.example.com/v.mp4", "title": "v",
             "videoMetadata": {"fps": 25, "duration": 10, "width": 64, "height": 48, "file_size": 9,
                               "mime_type": "video/mp4"},
             "clientMetadata": {"site": "Algiers", "$encord": {
                 "config": {"sampling_rate": 0, "keyframe_mode": "frame"},
                 "frames": {"0": {"vehicle_count": 3, "clip": [0.12, 0.53, 0.9]},
                            "120": {"vehicle_count": 5, "clip": [0.1, 0.44, 0.7]}}}}}
    job = _run(editor, folder, {"videos": [video], "images": [_image(0, clientMetadata={"clip": [1, 0, 0]})]})

    assert (job.done, job.failed) == (2, 0)
    stored_video = Item.objects.get(name="v")
    assert stored_video.client_metadata["$encord"]["frames"] == {"0": {"vehicle_count": 3}, "120": {"vehicle_count": 5}}
    assert list(Frame.objects.filter(item=stored_video).values_list("frame", "metadata")) == [
        (0, {"vehicle_count": 3}), (120, {"vehicle_count": 5})]
    assert sorted(Embedding.objects.filter(item__import_job=job).values_list("frame", flat=True),
                  key=lambda f: -1 if f is None else f) == [None, 0, 120]
    assert metadata_with_vectors([stored_video])[stored_video.pk] == video["clientMetadata"]


@pytest.mark.django_db(transaction=True)
def test_large_loads_set_the_ann_index_aside_and_rebuild_it(org, make_user, settings):
    from apps.metadata.models import Embedding, MetadataKey
    from apps.metadata.services.schema import schema_key_add
    from apps.metadata.vector_indexes import embedding_index_name

    settings.LOUPE_BULK_INDEX_THRESHOLD = 3
    admin = make_user(org, role="admin", email="orgadmin@example.com")
    folder = folder_create(user=admin, name="big", organisation=org)
    key = schema_key_add(user=admin, organisation=org, name="clip", type="embedding", size=2)
    index_name = embedding_index_name(key)

    def index_exists() -> bool:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [index_name])
            return cursor.fetchone() is not None

    seen_during_load = []
    real_write = imports._write_batch

    def spy(*args, **kwargs):
        seen_during_load.append(index_exists())
        return real_write(*args, **kwargs)

    imports._write_batch = spy
    try:
        job = _run(admin, folder, {"images": [_image(i, clientMetadata={"clip": [1, i]}) for i in range(4)]})
    finally:
        imports._write_batch = real_write

    assert (job.status, job.done) == ("DONE", 4)
    assert seen_during_load and not any(seen_during_load)
    assert index_exists()
    assert MetadataKey.objects.get(pk=key.pk).bulk_loads == 0
    assert job.suspended_index_keys == []
    assert Embedding.objects.filter(key=key).count() == 4


def test_many_small_imports_at_once_are_one_large_load(org, make_user, settings):
    """58 files of 17,000 entries sent together are a 1,000,000-entry load: the job counts the
    organisation's other unfinished imports (their totals, or their file size for those not scanned)."""
    from apps.core.services import organisation_default_get_or_create  # another organisation's jobs
    from apps.metadata.models import MetadataKey
    from apps.metadata.services.schema import schema_key_add

    admin = make_user(org, role="admin", email="orgadmin@example.com")
    folder = folder_create(user=admin, name="big", organisation=org)
    key = schema_key_add(user=admin, organisation=org, name="score", type="number")
    entries = {"images": [_image(i) for i in range(3)]}

    def queued(data) -> ImportJob:
        return import_job_create(user=admin, folder=folder, fileobj=ContentFile(json.dumps(data).encode(), name="f.json"))

    job = queued(entries)
    job.total = 3
    waiting = queued({"images": [_image(i) for i in range(10, 30)]})  # ~3.5 KB, not scanned: counted as 3
    scanned = queued(entries)
    ImportJob.objects.filter(pk=scanned.pk).update(total=40)
    finished = queued(entries)
    ImportJob.objects.filter(pk=finished.pk).update(total=1000, status=ImportJobStatus.DONE)
    other_org = organisation_default_get_or_create()
    other_admin = make_user(other_org, role="admin", email="other@example.com")
    other_folder = folder_create(user=other_admin, name="elsewhere", organisation=other_org)
    import_job_create(user=other_admin, folder=other_folder, fileobj=ContentFile(b'{"images": []}', name="g.json"))

    assert waiting.source.size // imports.BYTES_PER_ENTRY_ESTIMATE == 3
    assert imports.import_load_entries(job) == 3 + 3 + 40

    settings.LOUPE_BULK_INDEX_THRESHOLD = 47  # the load is one entry short: nothing is set aside
    imports._suspend_indexes_for_bulk_load(job)
    assert job.suspended_index_keys == [] and MetadataKey.objects.get(pk=key.pk).bulk_loads == 0

    settings.LOUPE_BULK_INDEX_THRESHOLD = 46  # large by the load, though the job alone holds 3 entries
    imports._suspend_indexes_for_bulk_load(job)
    assert job.suspended_index_keys == [key.pk] and MetadataKey.objects.get(pk=key.pk).bulk_loads == 1

    # The job ends while others of the load still wait: its count passes to the oldest waiting one
    # (no rebuild between files), and the last of the load ends it. (A job ends while RUNNING.)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJobStatus.RUNNING)
    imports._resume_suspended_indexes(job)
    assert ImportJob.objects.get(pk=waiting.pk).suspended_index_keys == [key.pk]
    assert ImportJob.objects.get(pk=job.pk).suspended_index_keys == []
    assert MetadataKey.objects.get(pk=key.pk).bulk_loads == 1
    ImportJob.objects.filter(pk=waiting.pk).update(status=ImportJobStatus.RUNNING)
    imports._resume_suspended_indexes(ImportJob.objects.get(pk=waiting.pk))
    assert ImportJob.objects.get(pk=scanned.pk).suspended_index_keys == [key.pk]
    assert MetadataKey.objects.get(pk=key.pk).bulk_loads == 1
    ImportJob.objects.filter(pk=scanned.pk).update(status=ImportJobStatus.RUNNING)
    imports._resume_suspended_indexes(ImportJob.objects.get(pk=scanned.pk))  # nobody waits: the load ends
    assert MetadataKey.objects.get(pk=key.pk).bulk_loads == 0
    assert list(ImportJob.objects.filter(organisation=org).exclude(suspended_index_keys=[])) == []


@pytest.mark.django_db(transaction=True)
def test_a_waiting_import_cancelled_with_a_handed_count_ends_the_load(org, make_user, celery_worker_process):
    """Cancelling the waiting job that inherited a load's count must not leave the indexes set aside:
    a worker ends the load (real worker, on commit)."""
    from apps.metadata.models import MetadataKey
    from apps.metadata.services.schema import schema_key_add

    admin = make_user(org, role="admin", email="orgadmin@example.com")
    folder = folder_create(user=admin, name="big", organisation=org)
    key = schema_key_add(user=admin, organisation=org, name="score", type="number")
    waiting = import_job_create(user=admin, folder=folder, fileobj=ContentFile(b'{"images": []}', name="w.json"))
    MetadataKey.objects.filter(pk=key.pk).update(bulk_loads=1)
    ImportJob.objects.filter(pk=waiting.pk).update(suspended_index_keys=[key.pk])

    cancelled = imports.import_job_cancel(user=admin, job=ImportJob.objects.get(pk=waiting.pk))

    assert cancelled.status == ImportJobStatus.CANCELLED
    deadline = time.monotonic() + 30
    while MetadataKey.objects.get(pk=key.pk).bulk_loads and time.monotonic() < deadline:
        time.sleep(0.1)
    assert MetadataKey.objects.get(pk=key.pk).bulk_loads == 0
    assert ImportJob.objects.get(pk=waiting.pk).suspended_index_keys == []
