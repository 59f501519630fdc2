"""What the similarity app plugs into the apps below it (set in ``SimilarityConfig.ready``)."""

from __future__ import annotations

from django.db import transaction


def items_probed(item_ids: list) -> None:
    """After a probe task: enqueue the built-in text embedding of its text and PDF items, once committed.

    One task for the probe task's items (at most ``PROBE_TASK_ITEMS``), so the model embeds them as a batch.
    """
    from apps.similarity.tasks import items_text_embed_task
    from apps.similarity.text_items import TEXT_TYPES
    from apps.storage.models import Item

    wanted = [str(pk) for pk in Item.objects.filter(pk__in=item_ids, item_type__in=TEXT_TYPES)
              .values_list("pk", flat=True)]
    if wanted:
        transaction.on_commit(lambda: items_text_embed_task.delay(wanted))
