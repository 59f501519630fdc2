"""What Loupe's background jobs share: their status values and how a cancel request is recorded.

Import jobs (storage) and metadata jobs (metadata) differ in what they process, not in lifecycle.
"""

from __future__ import annotations

from django.db import models, transaction
from django.utils import timezone


class JobStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    DONE = "DONE", "Done"
    ERROR = "ERROR", "Error"
    CANCELLED = "CANCELLED", "Cancelled"

    @classmethod
    def finished(cls) -> frozenset[str]:
        return frozenset({cls.DONE, cls.ERROR, cls.CANCELLED})


def job_cancel_request(*, model, pk, related: tuple[str, ...] = ()):
    """Ask a job to stop after its current batch; a job not yet started is cancelled at once.

    The row is locked so a worker committing a batch sees either the request or none of it.
    """
    with transaction.atomic():
        job = model.objects.select_for_update(of=("self",)).select_related(*related).get(pk=pk)
        if job.is_finished:
            return job
        job.cancel_requested = True
        if job.status == JobStatus.PENDING:
            job.status = JobStatus.CANCELLED
            job.finished_at = timezone.now()
        job.save(update_fields=["cancel_requested", "status", "finished_at", "updated_at"])
    return job
