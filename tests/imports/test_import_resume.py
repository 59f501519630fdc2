"""A worker SIGKILLed in the middle of an import job; a new worker finishes it, exactly once."""

from __future__ import annotations

import json
import time

from django.core.files.base import ContentFile

from apps.storage.models import ImportJob, ImportJobStatus, Item
from apps.storage.services.folders import folder_create
from apps.storage.services.integrations import integration_builtin_get_or_create
from apps.imports.tasks import import_job_run_task
from tests.conftest import start_worker, stop_worker

ENTRIES = 60_000



def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_job_resumes_without_duplicates(transactional_db, org, make_user, settings):
    QUEUE = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-resume"
    user = make_user(org)
    folder = folder_create(user=user, name="big", organisation=org)
    images = [{"objectUrl": f"https://cdn.example.com/{i}.jpg",
               "imageMetadata": {"mime_type": "image/jpeg", "file_size": i, "width": 8, "height": 8}}
              for i in range(ENTRIES)]
    images[123] = {"objectUrl": "gopher://nope"}
    # Created directly (not via import_job_create) so the task goes to this test's own queue.
    job = ImportJob(organisation=org, folder=folder, created_by=user, file_name="big.json",
                    integration=integration_builtin_get_or_create(organisation=org))
    job.source.save("big.json", ContentFile(json.dumps({"images": images}).encode()))

    first = start_worker(name="doomed", queues=QUEUE, log_name="test-worker-resume.log")
    try:
        import_job_run_task.apply_async(args=[str(job.pk)], queue=QUEUE)
        progress = _wait(lambda: ImportJob.objects.get(pk=job.pk).next_index >= 10_000, 60, "progress")
    finally:
        stop_worker(first, kill=True)
    killed_at = ImportJob.objects.get(pk=job.pk)
    assert progress and killed_at.status == ImportJobStatus.RUNNING
    assert 10_000 <= killed_at.next_index < ENTRIES, "the job must be killed half way"
    assert Item.objects.filter(import_job=job).count() == killed_at.done

    time.sleep(1.2)  # older than LOUPE_STALE_JOB_SECONDS below
    from django.conf import settings

    second = start_worker(name="rescuer", queues=f"{QUEUE},{settings.CELERY_TASK_DEFAULT_QUEUE}",
                          log_name="test-worker-resume.log",
                          LOUPE_STALE_JOB_SECONDS="1")
    try:
        finished = _wait(lambda: ImportJob.objects.filter(pk=job.pk, status=ImportJobStatus.DONE).first(),
                         120, "the resumed job to finish")
    finally:
        stop_worker(second)

    assert (finished.total, finished.done, finished.failed, finished.skipped) == (ENTRIES, ENTRIES - 1, 1, 0)
    indexes = list(Item.objects.filter(import_job=job).values_list("import_index", flat=True))
    assert len(indexes) == ENTRIES - 1
    assert sorted(indexes) == [i for i in range(ENTRIES) if i != 123]
    assert list(finished.errors.values_list("entry_index", "pointer")) == [(123, "/images/123/objectUrl")]
