"""Loupe's one keyset paginator: pages of a queryset in a fixed order, stable under inserts and cheap at
any depth (no OFFSET scans: page 1,000 of a 1M-item folder costs what page 1 does).

``keyset_page`` is the mechanism; every door uses it: the REST API through ``CursorPage`` (DRF's
``next``/``previous``/``results`` body, ``?cursor=``), the Encord routes (``nextPageToken``), the folder's
item grid and the item page's history (``?after=``/``?before=``).

A page is ordered by ``ordering`` plus the primary key (so ties never skip or repeat a row) and starts
after the row its token names. The token is opaque: URL-safe base64 of JSON holding the ordering it was
made for and the last row's values, so a token of another ordering or a forged one is refused
(``PageTokenError``), never silently misread.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_

from django.db import models
from django.db.models import F, Q, QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from apps.core.json_input import json_loads

TOKEN_MAX_LENGTH = 4096  # a token longer than any this server issues is refused before it is decoded


class PageTokenError(ValueError):
    """A page token this server did not issue for this ordering."""


@dataclass(frozen=True)
class KeysetPage:
    """One page: its rows, the token of the page after it (None on the last page), and, when the
    page was read backwards, the token of the page before it."""

    rows: list
    next_token: str | None
    previous_token: str | None = None


def keyset_page(queryset: QuerySet, *, ordering, page_size: int, token: str | None = None,
                nulls_last=(), listing: str = "", token_max_length: int = TOKEN_MAX_LENGTH) -> KeysetPage:
    """One page of ``queryset`` in ``ordering`` (field or annotation names, ``-`` for descending), after ``token``.

    The primary key is added as the last ordering field when it is not there. A token made by
    ``previous_token`` reads the page before a row instead (rows still come in ``ordering``).
    Names in ``nulls_last`` may be NULL: their NULLs come after every value in either direction (an
    Explorer sort key an item lacks). ``listing`` names what the ordering's names stand for when they
    are annotations (``sort_0`` of "score, descending"), so a token of another sort is refused.
    Raises ``PageTokenError`` for a token that was not made for this ordering.
    """
    fields = _fields(queryset.model, ordering)
    nullable = frozenset(nulls_last)
    signature = (listing + "|" if listing else "") + _signature(fields)
    backwards, values = (_decode(token, queryset, fields, signature, token_max_length) if token
                         else (False, None))
    # (name, descending, where NULLs go: None for a column that holds none, else "last"/"first" in this walk)
    walk = [(name, desc, ("first" if backwards else "last") if name in nullable else None) for name, desc in fields]
    if backwards:
        walk = [(name, not desc, nulls) for name, desc, nulls in walk]
    rows = _read(queryset, walk, values, page_size + 1)
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
        before = _encode(fields, signature, rows[0], backwards=True) if more and rows else None
        after = _encode(fields, signature, rows[-1], backwards=False) if rows else None
        return KeysetPage(rows, after, before)
    following = _encode(fields, signature, rows[-1], backwards=False) if more else None
    preceding = _encode(fields, signature, rows[0], backwards=True) if values is not None and rows else None
    return KeysetPage(rows, following, preceding)


def keyset_neighbours(queryset: QuerySet, *, ordering, pk, nulls_last=()) -> tuple | None:
    """(the row before, the row after) the row ``pk`` in ``queryset`` walked in ``ordering``, None at
    either end; None instead of the pair when ``pk`` is not in ``queryset``.

    The same walk ``keyset_page`` pages through (primary key last, ``nulls_last`` names' NULLs after every
    value): the row after is the first past this one, the row before is the first in the reversed walk.
    Two indexed one-row reads, at any depth of the result.
    """
    fields = _fields(queryset.model, ordering)
    row = queryset.filter(pk=pk).first()
    if row is None:
        return None
    values = [getattr(row, name) for name, _ in fields]
    nullable = frozenset(nulls_last)
    found = []
    for backwards in (True, False):
        walk = [(name, desc != backwards, ("first" if backwards else "last") if name in nullable else None)
                for name, desc in fields]
        ordered = queryset.order_by(*(_order(name, desc, nulls) for name, desc, nulls in walk))
        found.append(ordered.filter(_after(walk, values)).first())
    return found[0], found[1]


def _read(queryset: QuerySet, walk: list[tuple[str, bool, str | None]], values: list | None, limit: int) -> list:
    """Up to ``limit`` rows after ``values`` (from the start when None) in ``walk`` order.

    When the first name may be NULL, its non-NULL and its NULL rows are read as two queries, each in a
    plain order (``ORDER BY v DESC``, no ``NULLS LAST``, the non-NULL part filtered ``v IS NOT NULL``):
    the order and predicate that a btree over ``v`` partial on ``v IS NOT NULL`` serves (the Explorer's
    key indexes), where ``ORDER BY v DESC NULLS LAST`` over every row would sort them all. The second
    query runs only when the first leaves the page short.
    """
    name, desc, nulls = walk[0]
    if nulls is None:
        return list(_walk_query(queryset, walk, values)[:limit])
    present = (Q(**{f"{name}__isnull": False}), [(name, desc, None), *walk[1:]], values)
    absent = (Q(**{f"{name}__isnull": True}), walk[1:], values[1:] if values is not None else None)
    parts = [present, absent] if nulls == "last" else [absent, present]
    if values is not None:  # start in the part the token's row is in, after it; later parts from their start
        parts = parts[1:] if (values[0] is None) == (nulls == "last") else parts
        parts = [parts[0], *((where, part, None) for where, part, _ in parts[1:])]
    else:
        parts = [(where, part, None) for where, part, _ in parts]
    rows: list = []
    for where, part, after in parts:
        rows += list(_walk_query(queryset.filter(where), part, after)[: limit - len(rows)])
        if len(rows) >= limit:
            break
    return rows


def _walk_query(queryset: QuerySet, walk, values) -> QuerySet:
    queryset = queryset.order_by(*(_order(name, desc, nulls) for name, desc, nulls in walk))
    return queryset.filter(_after(walk, values)) if values is not None else queryset


def _order(name: str, desc: bool, nulls: str | None):
    if nulls is None:
        return f"-{name}" if desc else name
    expression = F(name)
    placement = {"nulls_last": True} if nulls == "last" else {"nulls_first": True}
    return expression.desc(**placement) if desc else expression.asc(**placement)


def _fields(model, ordering) -> list[tuple[str, bool]]:
    fields = [(name.lstrip("-"), name.startswith("-")) for name in ordering]
    pk_names = {"pk", model._meta.pk.name}
    if not any(name in pk_names for name, _ in fields):
        fields.append(("pk", fields[-1][1] if fields else False))
    return fields


def _after(walk: list[tuple[str, bool, str | None]], values: list) -> Q:
    """Rows after ``values`` in this order: (a > x) or (a = x and b > y) or ..., each way as ordered.

    A NULL-able name (``walk`` says where its NULLs go) is "after" x when it is NULL and NULLs come
    last; after a NULL only non-NULLs come, when NULLs come first, and nothing when they come last.
    """
    clauses = []
    for position, (name, desc, nulls) in enumerate(walk):
        equal = Q(**{walk[i][0]: values[i] for i in range(position)})  # x = None reads as IS NULL
        value = values[position]
        if value is None:
            if nulls != "first":
                continue
            beyond = Q(**{f"{name}__isnull": False})
        else:
            beyond = Q(**{f"{name}__{'lt' if desc else 'gt'}": value})
            if nulls == "last":
                beyond |= Q(**{f"{name}__isnull": True})
        clauses.append(equal & beyond)
    after = reduce(or_, clauses)
    first, desc, nulls = walk[0]
    if nulls is None and values[0] is not None:
        # Implied by the clauses, but a plain bound the planner can start an index scan at (the ORs
        # alone make it read the index from the top and filter: page 500 then costs 500 pages).
        after &= Q(**{f"{first}__{'lte' if desc else 'gte'}": values[0]})
    return after


def _signature(fields: list[tuple[str, bool]]) -> str:
    return ",".join(("-" if desc else "") + name for name, desc in fields)


def _encode(fields: list[tuple[str, bool]], signature: str, row, *, backwards: bool) -> str:
    values = [_plain(getattr(row, name)) for name, _ in fields]
    raw = json.dumps(["<" if backwards else ">", signature, *values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _decode(token: str, queryset, fields: list[tuple[str, bool]], signature: str,
            max_length: int) -> tuple[bool, list]:
    if len(token) > max_length:
        raise PageTokenError("page token too long")
    try:
        raw = json_loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))  # no NUL, no 1e999
        direction, given, *values = raw
    except (ValueError, TypeError, binascii.Error) as exc:
        raise PageTokenError("not a page token") from exc
    if direction not in ("<", ">") or given != signature or len(values) != len(fields):
        raise PageTokenError("a page token of another listing")
    return direction == "<", [_typed(queryset, name, value) for (name, _), value in zip(fields, values)]


def _typed(queryset, name: str, value):
    """A token's value as the field (or annotation) holds it; a value of the wrong type is a forged token.
    None only where the ordering may hold NULLs (``_after`` then compares with IS NULL)."""
    model = queryset.model
    if name in queryset.query.annotations:
        field = queryset.query.annotations[name].output_field
    else:
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if value is None and (name in queryset.query.annotations or field.null):
        return None
    try:
        if isinstance(field, models.BooleanField) and not isinstance(value, bool):
            raise ValueError(value)
        if isinstance(field, models.DateTimeField):
            parsed = parse_datetime(value) if isinstance(value, str) else None
            if parsed is None:
                raise ValueError(value)
            return parsed
        if isinstance(field, models.UUIDField):
            return uuid.UUID(value)
        if isinstance(field, models.IntegerField | models.AutoField):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(value)
            return value
        if isinstance(field, models.CharField | models.TextField) and not isinstance(value, str):
            raise ValueError(value)
        if isinstance(field, models.FloatField) and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise PageTokenError("a page token holding a value of the wrong type") from exc
    return value


class CursorPage(BasePagination):
    """REST pagination on ``keyset_page``: ``{"next", "previous", "results"}``, pages as ``?cursor=``.

    Subclasses set ``ordering`` (a tuple of fields); ``?page_size=`` up to ``max_page_size``. An
    unknown or forged cursor is a 404, as DRF's cursor pagination answered.
    """

    cursor_query_param = "cursor"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("-created_at",)
    invalid_cursor_message = "Invalid cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        ordering = (self.ordering,) if isinstance(self.ordering, str) else tuple(self.ordering)
        try:
            self.page = keyset_page(queryset, ordering=ordering, page_size=self._page_size(request),
                                    token=request.query_params.get(self.cursor_query_param) or None)
        except PageTokenError as exc:
            raise NotFound(self.invalid_cursor_message) from exc
        return self.page.rows

    def _page_size(self, request) -> int:
        """``page_size`` as asked (at most ``max_page_size``); one that is not a whole number from 1 is a
        400 rather than silently the default, so a typo does not look like a short listing."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18) or int(raw) < 1:
            raise ValidationError({self.page_size_query_param: [f"A whole number from 1, not {raw[:40]!r}."]})
        return min(int(raw), self.max_page_size)

    def _link(self, token: str | None) -> str | None:
        if token is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, token)

    def get_next_link(self) -> str | None:
        return self._link(self.page.next_token)

    def get_previous_link(self) -> str | None:
        return self._link(self.page.previous_token)

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        # The same body DRF's CursorPagination documents, so the OpenAPI schema does not change.
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri",
                         "example": "http://api.example.org/accounts/?cursor=cD00ODY%3D"},
                "previous": {"type": "string", "nullable": True, "format": "uri",
                             "example": "http://api.example.org/accounts/?cursor=cj0xJnA9NDg3"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "The pagination cursor value.", "schema": {"type": "string"}},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "description": "Number of results to return per page.", "schema": {"type": "integer"}},
        ]

