"""The Explorer's nearest-neighbour search: ``similar_to`` answered within the scope and filter.

One call for the REST search, the Explorer page and its item pages' walk: the candidates are
``explore_queryset`` (the one visibility rule, the one compiler), the nearest of them come from
``apps.similarity`` (which stays below the Explorer: it takes the filtered queryset, never builds it).
"""

from __future__ import annotations

from apps.explorer.filters import Node
from apps.explorer.selectors import explore_queryset
from apps.similarity.query import SimilarQuery, similar_result
from apps.similarity.search import SimilarAnswer


def explore_similar(*, user, organisation, similar_to, k: int, scope_folder=None, recursive: bool = True,
                    tree: Node | None = None, place: str = "similar_to") -> tuple[SimilarQuery, SimilarAnswer]:
    """(the query read from ``similar_to``, its ``k`` nearest matching items, nearest first). Raises
    ``ServiceValidationError`` keyed under ``place`` (or the filter's places), ``Http404`` for a source
    item ``user`` may not see."""
    items = explore_queryset(user=user, organisation=organisation, scope_folder=scope_folder, recursive=recursive,
                             tree=tree)
    return similar_result(user=user, organisation=organisation, similar_to=similar_to, k=k, items=items, place=place)
