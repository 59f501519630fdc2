"""Celery tasks of the Explorer: thin wrappers that take ids and call one service each."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="explorer.key_indexes_sync", acks_late=True)
def key_indexes_sync_task(organisation_id: str) -> None:
    """Build and drop the organisation's Explorer indexes to match its schema (idempotent)."""
    from apps.explorer.indexes import key_indexes_sync

    key_indexes_sync(organisation_id=organisation_id)
