"""``nextPageToken`` paging: keyset over (sort field, uuid), so pages never skip or repeat a row.

The token is opaque to the SDK (it sends it back as ``pageToken``); here it is base64 JSON of the last
row's sort value and uuid. Keyset rather than OFFSET keeps page 1,000 of a 1M-item folder as fast as
page 1.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework import exceptions

from apps.core.json_input import json_loads

SORT_FIELDS = {"name": "name", "createdAt": "created_at", "created_at": "created_at", "CREATED_AT": "created_at",
               "NAME": "name"}
MAX_PAGE_SIZE = 1000


def sort_field(order: str | None) -> str:
    if order is None:
        return "name"
    if order not in SORT_FIELDS:
        raise exceptions.ValidationError({"order": f"expected name or createdAt, got {order!r}"})
    return SORT_FIELDS[order]


def _encode(field: str, value, pk) -> str:
    raw = json.dumps([field, value.isoformat() if hasattr(value, "isoformat") else value, str(pk)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(token: str, field: str):
    """The (value, pk) a token carries; a token from another ordering or not from here is a 400."""
    refused = exceptions.ValidationError({"pageToken": "not a token this server issued for this ordering"})
    try:
        token_field, value, pk = json_loads(base64.urlsafe_b64decode(token.encode()))
        pk = uuid.UUID(pk)
    except (ValueError, binascii.Error, TypeError, AttributeError) as exc:
        raise refused from exc
    if token_field != field or not isinstance(value, str):
        raise refused
    if field == "created_at":
        value = parse_datetime(value)
        if value is None:
            raise refused
    return value, pk


def keyset_page(queryset: QuerySet, *, field: str, desc: bool, page_size: int, token: str | None):
    """One page of ``queryset`` ordered by ``field`` then pk, and the token of the next page (or None)."""
    ordering = (f"-{field}", "-pk") if desc else (field, "pk")
    queryset = queryset.order_by(*ordering)
    if token:
        value, pk = _decode(token, field)
        op = "lt" if desc else "gt"
        queryset = queryset.filter(Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk}))
    rows = list(queryset[: page_size + 1])
    if len(rows) <= page_size:
        return rows, None
    rows = rows[:page_size]
    last = rows[-1]
    return rows, _encode(field, getattr(last, field), last.pk)
