"""Patch jobs: one merge-patch applied to a fixed list of items (the Explorer's bulk edit beyond
``BULK_MAX_ITEMS``), without a file.

``metadata_patch_job_create`` reads the selection's uuids into the job row in ONE statement (an
``UPDATE ... SET items = ARRAY(SELECT ... ORDER BY uuid)`` over the caller's filtered queryset: no row
travels through Python or a file) and queues the job. Reading them once keeps the set fixed while
the edit runs: an edit that changes the filtered key cannot move items in or out of its own selection.

The worker (``patch_job_work``, called by ``metadata_job_run`` for a job with a ``patch``) writes
``PATCH_BATCH`` items per transaction with ``items_metadata_patch`` (one statement locks, merges and
records history) and commits ``next_index`` (a position in ``items``) with them, under the job's row
lock: a killed worker resumes at the first uncommitted item, none is written twice. Lease, heartbeat,
sweep, cancel and per-item errors (an item trashed or moved out of reach since) are the file jobs'.
"""

from __future__ import annotations


from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.http import Http404
from django.utils import timezone

from apps.core.jobs import job_lease_check
from apps.metadata.models_jobs import (
    MetadataJob, MetadataJobError, MetadataJobFormat, MetadataJobMatch, MetadataJobMode, MetadataJobStatus,
)
from apps.metadata.services.jobs import _require_organisation_editor, _scope
from apps.metadata.services.updates import _without_nulls, items_metadata_patch
from apps.metadata.validation import validate_metadata
from apps.storage.models import Folder, FolderRole
from apps.storage.permissions import folder_require

PATCH_BATCH = 10_000  # items per transaction: ~0.5 s of locking, merging and history at 1M items


@transaction.atomic
def metadata_patch_job_create(*, user, items: QuerySet, patch: dict, folder: Folder | None = None,
                              organisation=None, name: str = "bulk-edit") -> MetadataJob:
    """Queue a job merging ``patch`` (already validated) into every item of ``items`` (a queryset of
    items the caller may edit, scoped to ``folder`` or ``organisation`` as a file job is); returns at once."""
    if folder is not None:
        folder_require(user=user, folder=folder, role=FolderRole.EDITOR)
        organisation = folder.organisation
    else:
        _require_organisation_editor(user=user, organisation=organisation)
    job = MetadataJob.objects.create(
        organisation=organisation, folder=folder, created_by=user, file_name=name,
        file_format=MetadataJobFormat.JSON, mode=MetadataJobMode.MERGE, match=MetadataJobMatch.UUID, patch=patch,
    )
    selected, params = items.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {MetadataJob._meta.db_table} SET items = s.ids, total = cardinality(s.ids) "
            f"FROM (SELECT ARRAY(SELECT pk FROM ({selected}) q ORDER BY pk) AS ids) s WHERE uuid = %s",
            [*params, job.pk])
    from apps.metadata.tasks import metadata_job_run_task

    transaction.on_commit(lambda: metadata_job_run_task.delay(str(job.pk)))
    job.refresh_from_db(fields=["total"])
    return job


def patch_job_work(job: MetadataJob) -> tuple[str, str]:
    """Write the job's items from ``next_index`` on; (status, reason) for ``apps.core.jobs.job_run``."""
    try:
        scope = _scope(job)
        problems = validate_metadata(_without_nulls(job.patch), scope.schema)[1]
        if problems:  # the schema changed since the edit was submitted
            return MetadataJobStatus.ERROR, "The edit no longer fits the schema: " + "; ".join(
                p.message for p in problems[:5])
        while True:
            more = _patch_batch(job, scope)
            if more is None:
                return MetadataJobStatus.CANCELLED, ""
            if not more:
                return MetadataJobStatus.DONE, ""
    except (PermissionDenied, Http404) as exc:
        return MetadataJobStatus.ERROR, f"Stopped: {exc}"


def _patch_batch(job: MetadataJob, scope) -> bool | None:
    """One batch committed with the job's progress: True when items remain, False when none do,
    None when the job was cancelled."""
    with transaction.atomic():
        with connection.cursor() as cursor:  # safe: a lost commit loses its progress with it (jobs.py)
            cursor.execute("SET LOCAL synchronous_commit = off")
        locked = (MetadataJob.objects.select_for_update().only("next_index", "total", "cancel_requested",
                                                                "lease_owner").filter(pk=job.pk).first())
        if locked is None or locked.cancel_requested:
            return None
        job_lease_check(locked, job.lease_owner)
        start = locked.next_index
        if start >= (locked.total or 0):
            return False
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT items[%s:%s] FROM {MetadataJob._meta.db_table} WHERE uuid = %s",
                           [start + 1, start + PATCH_BATCH, job.pk])
            ids = cursor.fetchone()[0]
        result = items_metadata_patch(user=job.created_by, item_ids=ids, patch=job.patch,
                                      folder_ids=scope.folder_list, schema=scope.schema)
        position = {pk: start + n for n, pk in enumerate(ids)}
        MetadataJobError.objects.bulk_create(
            [MetadataJobError(job_id=job.pk, row=position[pk] + 1, location=f"items[{position[pk]}]", key=str(pk),
                              reason=f"no item {pk} in this job's folders") for pk in result.missing],
            ignore_conflicts=True,
        )
        now = timezone.now()
        MetadataJob.objects.filter(pk=job.pk).update(
            next_index=start + len(ids), done=F("done") + result.written, failed=F("failed") + len(result.missing),
            heartbeat_at=now, updated_at=now,
        )
    return start + len(ids) < (locked.total or 0)
