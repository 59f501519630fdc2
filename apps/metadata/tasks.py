"""Celery tasks of the metadata app: thin wrappers that take ids and call one service each."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="metadata.metadata_job_run", acks_late=True)
def metadata_job_run_task(job_id: str) -> None:
    """Run or resume a metadata job (idempotent: a finished job is left alone)."""
    from apps.metadata.services.jobs import metadata_job_run

    metadata_job_run(job_id=job_id)
