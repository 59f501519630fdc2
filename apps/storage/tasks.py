"""Celery tasks of the storage app: thin wrappers that take ids and call one service each."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="storage.item_probe", acks_late=True)
def item_probe_task(item_ids: list[str]) -> None:
    """Probe pending single-file items and make their previews (skips items no longer pending)."""
    from apps.storage import hooks
    from apps.storage.models import ItemStatus
    from apps.storage.services.processing import item_probe

    probed = []
    for item_id in item_ids:
        item = item_probe(item_id=item_id)
        if item is not None and item.status == ItemStatus.READY:
            probed.append(str(item.pk))
    # Each probe committed in its own transaction; the apps above get the ready ones in one call,
    # so their follow-up work (embedding texts) runs batched.
    hooks.items_probed(probed)


@shared_task(name="storage.item_container_process", acks_late=True)
def item_container_process_task(item_id: str) -> None:
    """Probe a group's, sequence's or series' children, then build the container's own outputs."""
    from apps.storage.services.processing import item_container_process

    item_container_process(item_id=item_id)
