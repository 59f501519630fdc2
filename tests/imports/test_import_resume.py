"""A worker SIGKILLed in the middle of an import job; a worker started 0, 5 or 20 seconds later (the
last: the job has long looked dead when a worker comes) resumes it within a minute of being up, from
its in-worker sweep (no task is redelivered that soon), and finishes it exactly once.

The staleness window is the test settings' LOUPE_JOB_STALE_AFTER_S (5 s) with a sweep every second;
production's 30 s + 10 s keep the same bound under a minute.
"""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.core.files.base import ContentFile

from apps.storage.models import ImportJob, ImportJobStatus, Item
from apps.storage.services.folders import folder_create
from apps.storage.services.integrations import integration_builtin_get_or_create
from apps.imports.tasks import import_job_run_task
from tests.conftest import start_worker, stop_worker

ENTRIES = 30_000
KILL_AFTER = 5_000  # entries committed before the worker is killed (one batch)
RESUME_BOUND_S = 60


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("restart_after_s", [0, 5, 20])
def test_killed_worker_job_resumes_within_a_minute_without_duplicates(transactional_db, org, make_user,
                                                                       restart_after_s):
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-resume"
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

    first = start_worker(name="doomed", queues=queue, log_name="test-worker-resume.log")
    try:
        import_job_run_task.apply_async(args=[str(job.pk)], queue=queue)
        _wait(lambda: ImportJob.objects.get(pk=job.pk).next_index >= KILL_AFTER, 60, "progress")
    finally:
        stop_worker(first, kill=True)
    killed_at = ImportJob.objects.get(pk=job.pk)
    assert killed_at.status == ImportJobStatus.RUNNING and killed_at.lease_owner != ""
    assert KILL_AFTER <= killed_at.next_index < ENTRIES, "the job must be killed half way"
    assert Item.objects.filter(import_job=job).count() == killed_at.registered

    killed = time.monotonic()
    time.sleep(restart_after_s)
    second = start_worker(name="rescuer", queues=f"{queue},{settings.CELERY_TASK_DEFAULT_QUEUE}",
                          log_name="test-worker-resume.log")
    up = time.monotonic()
    try:
        _wait(lambda: ImportJob.objects.get(pk=job.pk).next_index > killed_at.next_index, RESUME_BOUND_S,
              "the job to resume")
        resumed_s, since_kill_s = time.monotonic() - up, time.monotonic() - killed
        finished = _wait(lambda: ImportJob.objects.filter(pk=job.pk, status=ImportJobStatus.DONE).first(),
                         120, "the resumed job to finish")
    finally:
        stop_worker(second)
    print(f"\nrestart {restart_after_s} s after the kill: resumed {resumed_s:.1f} s after the worker answered, "
          f"{since_kill_s:.1f} s after the kill")

    assert resumed_s < RESUME_BOUND_S
    assert (finished.total, finished.done, finished.failed, finished.skipped) == (ENTRIES, ENTRIES - 1, 1, 0)
    indexes = list(Item.objects.filter(import_job=job).values_list("import_index", flat=True))
    assert len(indexes) == ENTRIES - 1
    assert sorted(indexes) == [i for i in range(ENTRIES) if i != 123]
    assert list(finished.errors.values_list("entry_index", "pointer")) == [(123, "/images/123/objectUrl")]
    assert (finished.lease_owner, finished.heartbeat_at) == ("", None)
