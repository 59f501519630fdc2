"""``nextPageToken`` paging of the Encord routes, on Loupe's one keyset paginator (``apps.core.pagination``).

The token is opaque to the SDK (it sends it back as ``pageToken``). Keyset rather than OFFSET keeps
page 1,000 of a 1M-item folder as fast as page 1.
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import exceptions

from apps.core.pagination import PageTokenError
from apps.core.pagination import keyset_page as core_keyset_page

SORT_FIELDS = {"name": "name", "createdAt": "created_at", "created_at": "created_at", "CREATED_AT": "created_at",
               "NAME": "name"}
MAX_PAGE_SIZE = 1000


def sort_field(order: str | None) -> str:
    if order is None:
        return "name"
    if order not in SORT_FIELDS:
        raise exceptions.ValidationError({"order": f"expected name or createdAt, got {order!r}"})
    return SORT_FIELDS[order]


def keyset_page(queryset: QuerySet, *, field: str, desc: bool, page_size: int, token: str | None):
    """One page of ``queryset`` ordered by ``field`` then pk, and the token of the next page (or None).

    A token from another ordering, or not from here, is a 400 on ``pageToken``.
    """
    try:
        page = core_keyset_page(queryset, ordering=(f"-{field}" if desc else field,), page_size=page_size,
                                token=token or None)
    except PageTokenError as exc:
        raise exceptions.ValidationError({"pageToken": "not a token this server issued for this ordering"}) from exc
    return page.rows, page.next_token
