"""Celery tasks of the similarity app: thin wrappers that take ids and call one service each."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="similarity.projection_compute", acks_late=True, reject_on_worker_lost=True)
def projection_compute_task(projection_id: int) -> None:
    """Compute a projection's points (idempotent; redelivered if the worker dies mid-way)."""
    from apps.similarity.services import projection_compute

    projection_compute(projection_id=projection_id)


@shared_task(name="similarity.projections_refresh", acks_late=True)
def projections_refresh_task(organisation_id: str) -> None:
    """After vectors changed: mark the organisation's projections stale and recompute those."""
    from apps.similarity.services import projections_refresh

    projections_refresh(organisation_id=organisation_id)

@shared_task(name="similarity.items_text_embed", acks_late=True)
def items_text_embed_task(item_ids: list[str]) -> None:
    """The built-in ``text`` embedding of probed text and PDF items (skips those already done)."""
    from apps.similarity.text_items import items_text_embed

    items_text_embed(item_ids=item_ids)

@shared_task(name="similarity.duplicate_scan_run", acks_late=True)
def duplicate_scan_run_task(scan_id: str) -> None:
    """Group near-duplicates for one scan (idempotent: a second delivery finds the scan held or done)."""
    from apps.similarity.services_duplicates import duplicate_scan_run

    duplicate_scan_run(scan_id=scan_id)
