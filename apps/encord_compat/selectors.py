"""Reads for the Encord routes: upload-job progress in the SDK's terms."""

from __future__ import annotations

import time

from apps.core.jobs import JobStatus
from apps.encord_compat.models import UploadJobOptions
from apps.encord_compat.wire import subtask_uuid
from apps.storage.models import ImportJob, ImportJobError, Item, ItemStatus

POLL_INTERVAL_S = 0.25
ACTIONS = {"videos": "Registering video", "images": "Registering image", "audio": "Registering audio",
           "image_groups": "Registering image group", "dicom_series": "Registering DICOM series",
           "text": "Registering text file", "pdf": "Registering PDF", "nifti": "Registering NIfTI file"}


def _probing(job: ImportJob) -> int:
    """Top-level items of the job a worker has not probed yet (their facts are not known)."""
    return Item.objects.filter(import_job=job, parent__isnull=True, status=ItemStatus.PENDING).count()


def upload_job_finished(job: ImportJob, *, probing: int | None = None) -> bool:
    """Finished for the SDK: the job has ended and every item it registered has been probed."""
    if not job.is_finished or job.status == JobStatus.CANCELLED:
        return job.is_finished
    return (_probing(job) if probing is None else probing) == 0


def upload_job_wait(*, job: ImportJob, timeout_s: float) -> ImportJob:
    """Re-read ``job`` until it is finished for the SDK or ``timeout_s`` has passed (long polling)."""
    deadline = time.monotonic() + max(timeout_s, 0)
    while not upload_job_finished(job) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
        job.refresh_from_db()
    return job


def _action(pointer: str) -> str:
    data_key = pointer.strip("/").split("/")[0]
    return ACTIONS.get(data_key, "Registering file")


def upload_job_state(*, job: ImportJob) -> dict:
    """``UploadLongPollingState``: status, created items, errors and unit counts."""
    options = UploadJobOptions.objects.filter(import_job=job).first()
    ignore_errors = options.ignore_errors if options else False
    errors = list(ImportJobError.objects.filter(job=job).order_by("entry_index", "id"))
    # The job's own counters (each entry counted once, as on every other door): a unit is done when
    # registered or skipped as a duplicate and its files were read; an error when refused or unreadable.
    probing = _probing(job) if job.is_finished else 0
    probe_failed = job.probe_failed
    error_units = job.failed + probe_failed
    cancelled = job.pending if job.status == JobStatus.CANCELLED else 0
    pending = 0 if job.status == JobStatus.CANCELLED else job.pending + probing
    done = max(job.registered - probe_failed + job.skipped - probing, 0)

    if job.status == JobStatus.CANCELLED:
        status = "CANCELLED"
    elif not upload_job_finished(job, probing=probing):
        status = "PENDING"
    elif job.status == JobStatus.ERROR or (error_units and not ignore_errors):
        status = "ERROR"
    else:
        status = "DONE"
    created = Item.objects.live().filter(import_job=job, parent__isnull=True).order_by("import_index")
    return {
        "status": status,
        "itemsWithNames": [{"itemUuid": str(pk), "name": name} for pk, name in created.values_list("pk", "name")],
        "errors": ([job.error] if job.error else []) + [f"{error.pointer}: {error.reason}" for error in errors],
        "unitsPendingCount": pending,
        "unitsDoneCount": done,
        "unitsErrorCount": error_units,
        "unitsCancelledCount": cancelled,
        "unitErrors": [
            {"objectUrls": list(error.urls), "error": error.reason,
             "subtaskUuid": subtask_uuid(job.pk, error.entry_index), "actionDescription": _action(error.pointer)}
            for error in errors
        ],
        "fileName": job.file_name or None,
    }
