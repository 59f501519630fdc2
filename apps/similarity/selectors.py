"""Reads the similarity controls need beside the search itself (``apps.similarity.search``)."""

from __future__ import annotations

from apps.metadata.models import Embedding, KeyState, KeyType


def item_similar_keys(*, item) -> list[str]:
    """The names of the active embedding keys ``item`` holds an item-level vector for, by name: the
    keys "more like this" can start from on this item."""
    return list(Embedding.objects.filter(item=item, frame__isnull=True, key__state=KeyState.ACTIVE,
                                         key__type=KeyType.EMBEDDING)
                .order_by("key__name").values_list("key__name", flat=True))
