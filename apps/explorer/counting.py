"""Counts that never block the Explorer page: the planner's estimate at once, the exact count when cheap.

An exact ``count(*)`` over a broad filter at 1,000,000 items costs 0.5-7 s (shared/spec/performance-notes.md),
the planner's row estimate 0.4 ms. ``explore_count_answer`` counts exactly when the estimate is below
``EXACT_COUNT_BELOW`` rows, and even then gives the count at most ``EXACT_COUNT_TIMEOUT_MS`` (the planner
can be off by -90..-99% on JSONB predicates without extended statistics, so a "small" estimate does not
promise a cheap count); otherwise it answers the estimate with ``count_exact: false`` and the page asks
``POST /api/v1/explore/count`` (``explore_count``, always exact) afterwards.

The estimate is the top plan node's ``Plan Rows`` of ``EXPLAIN (FORMAT JSON)`` of the very query the
search pages (scope, permissions and filter). ``pg_class.reltuples`` alone is not used even for an
unfiltered scope: the item table holds every organisation's items, frames and trashed rows, and the plan
already starts from reltuples and scales it by the scope's selectivity.

The search view answers ``answer = explore_count_answer(**scope)`` as ``{"count": answer.count,
"count_exact": answer.exact}``, with the same ``scope`` keywords it gives ``explore_items``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet

from apps.explorer.filters import Node
from apps.explorer.selectors import explore_queryset

EXACT_COUNT_BELOW = 200_000  # estimated rows: exact counts with the typed indexes take <= 220 ms p95 (notes)
QUERY_CANCELED = "57014"  # SQLSTATE of a statement stopped by statement_timeout
EXACT_COUNT_TIMEOUT_MS = 300  # the most an inline exact count may take before the estimate is answered


@dataclass(frozen=True)
class CountAnswer:
    count: int
    exact: bool


def queryset_row_estimate(items: QuerySet) -> int:
    """The planner's estimate of the rows ``items`` returns (no row is read)."""
    sql, params = items.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return max(0, round(plan[0]["Plan"]["Plan Rows"]))


def queryset_count_within(items: QuerySet, *, timeout_ms: int) -> int | None:
    """The exact count of ``items``, or None when it takes longer than ``timeout_ms``.

    The timeout is set with ``set_config(..., is_local => true)`` inside a savepoint and put back as it
    was afterwards, so a request running in a transaction keeps its own timeout for its later queries."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        previous = cursor.fetchone()[0]
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{int(timeout_ms)}ms"])
            count = items.order_by().count()
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
            return count
    except DatabaseError as exc:  # the savepoint's rollback also undid the setting
        cause = exc.__cause__
        if getattr(cause, "sqlstate", None) == QUERY_CANCELED or getattr(cause, "pgcode", None) == QUERY_CANCELED:
            return None
        raise


def explore_count_estimate(*, user, organisation, scope_folder=None, recursive: bool = True,
                           tree: Node | None = None) -> int:
    """The planner's estimate of the number of items ``explore_items`` pages through."""
    return queryset_row_estimate(explore_queryset(user=user, organisation=organisation, scope_folder=scope_folder,
                                                  recursive=recursive, tree=tree))


def explore_count_answer(*, user, organisation, scope_folder=None, recursive: bool = True, tree: Node | None = None,
                         exact_below: int = EXACT_COUNT_BELOW,
                         timeout_ms: int = EXACT_COUNT_TIMEOUT_MS) -> CountAnswer:
    """What the search answers as ``count``/``count_exact``: exact when the estimate is under
    ``exact_below`` and the count finishes within ``timeout_ms``, else the estimate (not exact)."""
    items = explore_queryset(user=user, organisation=organisation, scope_folder=scope_folder,
                             recursive=recursive, tree=tree)
    estimate = queryset_row_estimate(items)
    if estimate < exact_below:
        exact = queryset_count_within(items, timeout_ms=timeout_ms)
        if exact is not None:
            return CountAnswer(exact, True)
    return CountAnswer(estimate, False)
