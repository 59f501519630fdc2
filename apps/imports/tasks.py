"""Celery tasks of the import pipeline: thin wrappers that take ids and call one service each."""

from __future__ import annotations

from celery import shared_task


# The name predates this app (the task lived in apps.storage): queued messages carry it, so it stays.
@shared_task(name="storage.import_job_run", acks_late=True)
def import_job_run_task(job_id: str) -> None:
    """Run or resume an import job (idempotent: a finished job is left alone)."""
    from apps.imports.services.imports import import_job_run

    import_job_run(job_id=job_id)


@shared_task(name="imports.import_job_indexes_resume", acks_late=True)
def import_job_indexes_resume_task(job_id: str) -> None:
    """End the index suspension of an import cancelled before it ran (idempotent)."""
    from apps.imports.services.imports import import_job_indexes_resume

    import_job_indexes_resume(job_id=job_id)
