"""A worker SIGKILLed in the middle of a metadata job; a worker started at once resumes it (from the
sweep, once the killed run's lease is stale) and every row is applied exactly once."""

from __future__ import annotations

import hashlib
import json
import time

from django.conf import settings
from django.core.files.base import ContentFile

from apps.metadata.models_jobs import MetadataJob
from apps.metadata.records import MetadataChange
from apps.metadata.tasks import metadata_job_run_task
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create
from tests.conftest import start_worker, stop_worker

ROWS = 12_000
KILL_AFTER = 5_000  # rows committed before the worker is killed (one chunk)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_metadata_job_resumes_and_applies_each_row_once(transactional_db, org, make_user):
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-md-resume"
    user = make_user(org, role="admin")
    folder = folder_create(user=user, name="rows", organisation=org)
    urls = [f"https://cdn.example.com/{n}.jpg" for n in range(ROWS)]
    items = Item.objects.bulk_create(
        Item(organisation=org, folder=folder, item_type=ItemType.IMAGE, name=f"{n}.jpg", url=url,
             urls_key=hashlib.sha1(url.encode()).hexdigest(), status=ItemStatus.READY)
        for n, url in enumerate(urls))
    rows = {str(item.pk): {"n": n} for n, item in enumerate(items)}
    job = MetadataJob.objects.create(organisation=org, folder=folder, created_by=user, file_format="json",
                                     source=ContentFile(json.dumps({"items": rows}).encode(), "rows.json"))

    first = start_worker(name="md-doomed", queues=queue, log_name="test-worker-resume.log")
    try:
        metadata_job_run_task.apply_async(args=[str(job.pk)], queue=queue)
        _wait(lambda: MetadataJob.objects.get(pk=job.pk).next_index >= KILL_AFTER, 60, "progress")
    finally:
        stop_worker(first, kill=True)
    killed_at = MetadataJob.objects.get(pk=job.pk)
    assert killed_at.status == "RUNNING" and KILL_AFTER <= killed_at.next_index < ROWS

    second = start_worker(name="md-rescuer", queues=f"{queue},{settings.CELERY_TASK_DEFAULT_QUEUE}",
                          log_name="test-worker-resume.log")
    up = time.monotonic()
    try:
        finished = _wait(lambda: MetadataJob.objects.filter(pk=job.pk, status="DONE").first(), 90,
                         "the resumed job to finish")
    finally:
        stop_worker(second)
    print(f"\nmetadata job killed at row {killed_at.next_index}: done {time.monotonic() - up:.1f} s after the "
          "new worker answered")

    assert (finished.total, finished.next_index, finished.done, finished.failed) == (ROWS, ROWS, ROWS, 0)
    assert MetadataChange.objects.filter(item__folder=folder).count() == ROWS  # no row applied twice
    assert sorted(Item.objects.filter(folder=folder).values_list("client_metadata__n", flat=True)) == list(range(ROWS))
