"""Celery tasks of the similarity app: thin wrappers that take ids and call one service each."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="similarity.duplicate_scan_run", acks_late=True)
def duplicate_scan_run_task(scan_id: str) -> None:
    """Group near-duplicates for one scan (idempotent: a second delivery finds the scan held or done)."""
    from apps.similarity.services_duplicates import duplicate_scan_run

    duplicate_scan_run(scan_id=scan_id)
