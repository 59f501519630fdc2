"""Celery tasks of the similarity app: thin wrappers that take ids and call one service each."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="similarity.items_text_embed", acks_late=True)
def items_text_embed_task(item_ids: list[str]) -> None:
    """The built-in ``text`` embedding of probed text and PDF items (skips those already done)."""
    from apps.similarity.text_items import items_text_embed

    items_text_embed(item_ids=item_ids)
