"""Celery tasks of the Explorer: thin wrappers that take ids and call one service each."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(name="explorer.key_indexes_sync", acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=2, retry_backoff_max=60, max_retries=8)
def key_indexes_sync_task(organisation_id: str) -> None:
    """Build and drop the organisation's Explorer indexes to match its schema (idempotent: a sync that
    lost a deadlock or a connection is simply run again; a later change queues its own sync)."""
    from apps.explorer.indexes import key_indexes_sync

    key_indexes_sync(organisation_id=organisation_id)
