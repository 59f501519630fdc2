"""Jobs that always finish (issue 9, items 7 and 14): a poison entry in an import or a metadata job is
recorded failed at its position with the reason and the job goes on, run by a real Celery worker;
a job whose work breaks ends in ERROR with the reason; one run at a time holds a job (lease); the sweep
sends again what a dead worker left, and a job that keeps killing its worker is stopped.

"Poison" entries are values the import parser accepts but PostgreSQL refuses (NUL in a string or in
metadata, integer columns overflowing) plus one that a CHECK constraint added by the test refuses,
whose reason is the database's own message. Should the parser learn to refuse some of the former, they
would still be failed at the same position (only their reason would change), which is what is asserted.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from apps.core.jobs import JobLeaseLost, JobStatus, job_claim, jobs_sweep
from apps.metadata.models_jobs import MetadataJob
from apps.metadata.records import MetadataChange
from apps.metadata.services.jobs import metadata_job_create
from apps.metadata.tasks import metadata_job_run_task
from apps.storage.models import ImportJob, Item, ItemStatus, ItemType
from apps.imports.services import imports
from apps.storage.services.folders import folder_create
from apps.imports.services.imports import import_job_create, import_job_run
from apps.imports.tasks import import_job_run_task

JOB_TIMEOUT_S = 60
CHECK_REASON = ('the database refused it: new row for relation "storage_item" violates check constraint '
                '"test_poison"')


@pytest.fixture
def editor(transactional_db, org, make_user):
    return make_user(org, role="admin", email="jobs@example.com")


@pytest.fixture
def folder(editor, org):
    return folder_create(user=editor, name="poison", organisation=org)


@pytest.fixture
def unit_editor(db, org, make_user):
    """For tests run in this process: their rows stay in the test's transaction, out of the session
    worker's sight (its sweep must not resume them)."""
    return make_user(org, role="admin", email="unit@example.com")


@pytest.fixture
def unit_folder(unit_editor, org):
    return folder_create(user=unit_editor, name="unit", organisation=org)


@pytest.fixture
def poison_constraint(db):
    """A CHECK the database enforces and no Loupe validation knows: an item named "poison", or whose
    metadata has the key "poison", is refused by PostgreSQL itself."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE storage_item ADD CONSTRAINT test_poison "
                       "CHECK (name <> 'poison' AND NOT client_metadata ? 'poison')")
    yield
    if not connection.in_atomic_block:  # else the test's transaction is rolled back, constraint and all
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE storage_item DROP CONSTRAINT test_poison")


def _wait(model, pk):
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = model.objects.get(pk=pk)
        if job.is_finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{model.__name__} {pk} did not finish: {job.status} at {job.next_index}")


def _image(n: int, **extra) -> dict:
    return {"objectUrl": f"https://cdn.example.com/{n}.jpg", "title": f"{n}.jpg",
            "imageMetadata": {"mime_type": "image/jpeg", "file_size": 100 + n, "width": 8, "height": 8}, **extra}


def _queued_job(editor, folder, *, content: bytes | None = None) -> ImportJob:
    """A job row with its file, not sent to any worker."""
    job = ImportJob(organisation=folder.organisation, folder=folder, created_by=editor, file_name="q.json",
                    integration=imports.integration_builtin_get_or_create(organisation=folder.organisation))
    content = content or json.dumps({"images": [_image(n) for n in range(3)]}).encode()
    job.source.save("q.json", ContentFile(content), save=False)
    job.save()
    return job


POISON_IMAGES = {
    3: lambda: _image(3, title="nul\x00title"),
    7: lambda: _image(7, clientMetadata={"note": "nul\x00value"}),
    11: lambda: {**_image(11), "imageMetadata": {"mime_type": "image/jpeg", "file_size": 1, "width": 10**12,
                                                 "height": 8}},
    15: lambda: _image(15, objectUrl="https://cdn.example.com/nul\x00.jpg"),
    23: lambda: {**_image(23), "imageMetadata": {"mime_type": "image/jpeg", "file_size": 10**30, "width": 8,
                                                 "height": 8}},
    27: lambda: _image(27, title="poison"),
}


def _poisoned_file(count: int) -> bytes:
    images = [POISON_IMAGES[n]() if n in POISON_IMAGES else _image(n) for n in range(count)]
    # ensure_ascii keeps the NUL and the lone surrogate as \u escapes, as a client would send them
    return json.dumps({"images": images}).encode()


def test_poison_entries_of_an_import_are_failed_and_every_other_entry_is_in_once(
        celery_worker_process, editor, folder, poison_constraint):
    job = import_job_create(user=editor, folder=folder, fileobj=ContentFile(_poisoned_file(30), name="p.json"))

    job = _wait(ImportJob, job.pk)

    assert (job.status, job.error, job.total, job.done, job.skipped, job.failed, job.probe_failed, job.pending) == (
        "DONE", "", 30, 24, 0, 6, 0, 0)
    indexes = sorted(Item.objects.filter(import_job=job).values_list("import_index", flat=True))
    assert indexes == [n for n in range(30) if n not in POISON_IMAGES]
    errors = list(job.errors.values_list("entry_index", "pointer", "reason", "stage"))
    assert [e[0] for e in errors] == sorted(POISON_IMAGES)
    assert all(pointer.startswith(f"/images/{index}") and reason and stage == "entry"
               for index, pointer, reason, stage in errors), errors
    assert errors[-1] == (27, "/images/27", f"Loupe could not store this entry: {CHECK_REASON}", "entry")


def test_poison_entries_across_batches_resume_the_stream_after_each(unit_editor, unit_folder, poison_constraint,
                                                                   monkeypatch):
    """Batches of 4: the poison batches are written entry by entry, the stream restarts after each."""
    monkeypatch.setattr(imports, "BATCH_ENTRIES", 4)
    job = _queued_job(unit_editor, unit_folder, content=_poisoned_file(30))

    job = import_job_run(job_id=job.pk)

    assert (job.status, job.next_index, job.done, job.failed) == ("DONE", 30, 24, 6)
    indexes = sorted(Item.objects.filter(import_job=job).values_list("import_index", flat=True))
    assert indexes == [n for n in range(30) if n not in POISON_IMAGES]
    assert list(job.errors.values_list("entry_index", flat=True)) == sorted(POISON_IMAGES)


def test_all_or_nothing_import_with_a_poison_entry_imports_nothing(unit_editor, unit_folder, poison_constraint,
                                                                    monkeypatch):
    """The poison entry is the 28th: six batches of 4 are in when it is refused; they are taken out."""
    monkeypatch.setattr(imports, "BATCH_ENTRIES", 4)
    images = [_image(n, title="poison") if n == 27 else _image(n) for n in range(30)]
    job = _queued_job(unit_editor, unit_folder, content=json.dumps({"images": images}).encode())
    ImportJob.objects.filter(pk=job.pk).update(all_or_nothing=True)

    job = import_job_run(job_id=job.pk)

    assert (job.status, job.error, job.done, job.skipped, job.failed, job.pending) == (
        "ERROR", "Nothing was imported: the database refused entry 27 (/images/27).", 0, 0, 1, 29)
    assert Item.objects.filter(folder=unit_folder).count() == 0
    assert list(job.errors.values_list("entry_index", "pointer", "reason")) == [
        (27, "/images/27", f"Loupe could not store this entry: {CHECK_REASON}")]


def _item(folder, name: str) -> Item:
    url = f"https://cdn.example.com/{name}"
    return Item.objects.create(organisation=folder.organisation, folder=folder, item_type=ItemType.IMAGE, name=name,
                               url=url, urls_key=hashlib.sha1(url.encode()).hexdigest(), status=ItemStatus.READY)


def test_poison_rows_of_a_metadata_job_are_failed_and_every_other_row_applied_once(
        celery_worker_process, editor, folder, poison_constraint):
    items = [_item(folder, f"{n}.jpg") for n in range(12)]
    rows = [{"item": str(item.pk), "metadata": {"n": n}} for n, item in enumerate(items)]
    rows[2] = {"item": str(items[2].pk), "metadata": {"note": "nul\x00value"}}
    rows[5] = {"item": str(items[5].pk), "metadata": {"poison": 1}}
    rows[8] = {"title": "nul\x00title", "metadata": {"n": 8}}
    job = metadata_job_create(user=editor, folder=folder, fileobj=ContentFile(json.dumps(rows).encode(),
                                                                             name="rows.json"))

    job = _wait(MetadataJob, job.pk)

    assert (job.status, job.error, job.total, job.done, job.failed, job.pending) == ("DONE", "", 12, 9, 3, 0)
    errors = list(job.errors.values_list("row", "location", "reason"))
    assert [(row, location) for row, location, _ in errors] == [(3, "/2"), (6, "/5"), (9, "/8")]
    assert all(reason for _, _, reason in errors)
    assert errors[1][2] == f"Loupe could not apply this row: {CHECK_REASON}"
    applied = {n for n, item in enumerate(items) if Item.objects.get(pk=item.pk).client_metadata == {"n": n}}
    assert applied == {0, 1, 3, 4, 6, 7, 9, 10, 11}
    assert MetadataChange.objects.filter(item__in=items).count() == 9  # each applied row once


def test_a_job_whose_work_breaks_ends_in_error_with_the_reason(celery_worker_process, editor, folder):
    imported = _queued_job(editor, folder)
    applied = MetadataJob.objects.create(organisation=folder.organisation, folder=folder, created_by=editor,
                                         file_format="json", source=ContentFile(b"[]", "m.json"))
    for job in (imported, applied):  # the stored file vanishes before a worker reads it
        job.source.storage.delete(job.source.name)
    import_job_run_task.delay(str(imported.pk))
    metadata_job_run_task.delay(str(applied.pk))

    for model, job in ((ImportJob, imported), (MetadataJob, applied)):
        finished = _wait(model, job.pk)
        assert finished.status == "ERROR"
        assert finished.error.startswith("Stopped by an unexpected error: FileNotFoundError: "), finished.error
        assert (finished.lease_owner, finished.heartbeat_at) == ("", None)


# --------------------------------------------------------------------------- lease, sweep, stalls


def test_a_second_delivery_of_a_held_job_returns_and_a_presumed_dead_run_stops(unit_editor, unit_folder, settings):
    job = _queued_job(unit_editor, unit_folder)
    first = job_claim(model=ImportJob, pk=job.pk, owner="a" * 32)
    assert (first.status, first.lease_owner) == ("RUNNING", "a" * 32)

    again = import_job_run(job_id=job.pk)  # a second delivery while the first run is alive

    assert (again.status, again.lease_owner, again.next_index) == ("RUNNING", "a" * 32, 0)
    assert Item.objects.filter(import_job=job).count() == 0

    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(
        seconds=settings.LOUPE_JOB_STALE_AFTER_S + 1))  # the first run went silent
    taken = job_claim(model=ImportJob, pk=job.pk, owner="b" * 32)
    assert taken.lease_owner == "b" * 32
    with pytest.raises(JobLeaseLost):  # the first run wakes up: its next batch writes nothing
        imports._write_batch(first, iter([]), {}, existing={})


def test_sweep_sends_stale_and_lost_jobs_once(unit_editor, unit_folder, settings, monkeypatch):
    sent = []
    from apps.core import jobs

    monkeypatch.setattr(jobs, "_KINDS", {"storage.ImportJob": jobs.JobKind(ImportJob, sent.append)})
    old = timezone.now() - timedelta(seconds=settings.LOUPE_JOB_STALE_AFTER_S + 1)
    alive, dead, released, fresh_pending, lost_pending, finished = (_queued_job(unit_editor, unit_folder) for _ in range(6))
    ImportJob.objects.filter(pk=alive.pk).update(status="RUNNING", lease_owner="x", heartbeat_at=timezone.now())
    ImportJob.objects.filter(pk=dead.pk).update(status="RUNNING", lease_owner="y", heartbeat_at=old)
    ImportJob.objects.filter(pk=released.pk).update(status="RUNNING", lease_owner="", heartbeat_at=None)
    ImportJob.objects.filter(pk=lost_pending.pk).update(created_at=old)
    ImportJob.objects.filter(pk=finished.pk).update(status="DONE", heartbeat_at=old, created_at=old)

    assert sorted(pk for _, pk in jobs_sweep()) == sorted([dead.pk, released.pk, lost_pending.pk])
    assert sorted(sent) == sorted(str(pk) for pk in (dead.pk, released.pk, lost_pending.pk))
    assert jobs_sweep() == []  # sent once per staleness window, not on every tick
    assert ImportJob.objects.get(pk=dead.pk).lease_owner == ""


def test_a_job_that_keeps_killing_its_worker_is_stopped_with_the_reason(unit_editor, unit_folder, settings):
    job = _queued_job(unit_editor, unit_folder)
    for owner in ("1", "2", "3"):  # each run dies before committing anything
        assert job_claim(model=ImportJob, pk=job.pk, owner=owner * 32) is not None
        ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(
            seconds=settings.LOUPE_JOB_STALE_AFTER_S + 1))

    stopped = import_job_run(job_id=job.pk)

    assert (stopped.status, stopped.error) == (JobStatus.ERROR, (
        "Stopped: the job was resumed 3 times at entry 0 and the worker running it stopped each time "
        "(see the worker's log)."))
    assert Item.objects.filter(import_job=job).count() == 0
