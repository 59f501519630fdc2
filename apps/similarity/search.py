"""Nearest items to a vector on one embedding key, within the Explorer's scope and filter.

``similar_items`` is what the REST search (``similar_to``) and the Explorer page ("more like this",
the sentence box) call. The candidates are the items of the queryset the caller passes, the Explorer's
``explore_queryset`` for the same user, scope and filter (the one visibility rule, the one compiler),
that hold an item-level vector for the key (``frame IS NULL``); the answer is the ``k`` nearest by cosine
distance, nearest first.

The planner (why: pgvector's HNSW alone starves under a filter: a filter matching 1% gave about one
row of ten, and iterative scans only ~0.6 recall, ../shared/spec/performance-notes.md):

1. Estimate, from PostgreSQL's planner (no row read), how many matching items hold a vector for the
   key, and the key's vector count; their ratio is the filter's selectivity.
2. Few matches (under ``EXACT_BELOW``), or a filter selecting under ``EXACT_SELECTIVITY``: **exact** distance
   over the filtered rows. The distance is ordered as ``vector <=> q`` on the stored, untyped column,
   an expression the key's HNSW index (built over a sized cast) does not match, and the filtered items
   are a ``MATERIALIZED`` CTE, so PostgreSQL cannot turn it into an index scan that drops rows.
3. Otherwise **HNSW** through ``embedding_index(key)`` with ``hnsw.iterative_scan = relaxed_order``
   (``SET LOCAL``), ``ef_search`` and the candidate count scaled up as the selectivity falls, then an
   exact re-rank of the candidates (the order of a relaxed scan is approximate, and the bit index of
   4,096-d keys is only a coarse list).
4. When the index gives fewer than ``k`` candidates (the scan hit ``hnsw.max_scan_tuples``, or the
   estimate was far off), the exact search runs instead: never fewer than ``min(k, matches)``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

from django.db import connection, transaction

from django.db.models import QuerySet

from apps.core.errors import ServiceValidationError
from apps.metadata.models import Embedding, MetadataKey
from apps.metadata.vector_indexes import embedding_index
from apps.storage.models import Item

K_DEFAULT = 50
K_MAX = 1000
EXACT_BELOW = 5_000  # estimated matches: exact costs 10-20 µs a matching row (random index and heap reads)
EXACT_SELECTIVITY = 0.02  # below 2% a relaxed HNSW scan walks >50x k tuples per result: exact is cheaper
EF_SEARCH_BASE = {"vector": 200, "halfvec": 200, "bit": 200}  # unfiltered 1M clustered 512-d: 100 -> 0.80, 200 -> 0.96
EF_SEARCH_MAX = 1000  # pgvector's cap
CANDIDATES_MIN = {"vector": 100, "halfvec": 100, "bit": 200}  # re-ranked exactly; the bit list is coarse
KEY_TOTAL_TTL_S = 60  # how long a key's vector-count estimate is reused in one process
MAX_SCAN_TUPLES = 50_000  # how far an iterative scan may walk before giving up (pgvector's default: 20,000)


_key_totals: dict[int, tuple[int, float]] = {}  # key pk -> (estimated item-level vectors, when)


@dataclass(frozen=True)
class SimilarHit:
    item: Item
    distance: float


@dataclass(frozen=True)
class SimilarAnswer:
    """The hits nearest first; ``plan`` is ``exact``, ``hnsw`` or ``hnsw+exact`` (the index fell short);
    ``estimate`` the planner's guess of matching items with a vector, ``selectivity`` its share of the key's."""

    hits: list[SimilarHit]
    plan: str
    estimate: int
    selectivity: float


def vector_text(vector) -> str:
    """A vector as pgvector's text form (``repr`` keeps every float32 digit)."""
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


def query_vector_check(key: MetadataKey, vector, *, place: str) -> list[float]:
    """``vector`` as floats when it is a list of ``key.size`` finite numbers, not all zero (a zero vector
    has no direction: its cosine distance to anything is undefined); else a 400 at ``place``."""
    if not isinstance(vector, list | tuple):
        raise ServiceValidationError({place: f"A list of {key.size} numbers."})
    if len(vector) != key.size:
        raise ServiceValidationError({place: f"Key \"{key.name}\" holds {key.size}-d vectors; this one has {len(vector)}."})
    for index, value in enumerate(vector):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ServiceValidationError({f"{place}[{index}]": "A finite number (no NaN, no infinity, no string)."})
        if abs(value) > 3.4e38:
            raise ServiceValidationError({f"{place}[{index}]": "Out of the float32 range."})
    if not any(vector):
        raise ServiceValidationError({place: "A zero vector has no direction: cosine distance is undefined."})
    return [float(value) for value in vector]


def item_vector(*, key: MetadataKey, item: Item, frame: int | None, place: str) -> list[float]:
    """The stored vector of ``item`` (or its ``frame``) on ``key``; a 400 at ``place`` when there is none."""
    row = Embedding.objects.filter(key=key, item=item, frame=frame).values_list("vector", flat=True).first()
    if row is None:
        at = f" at frame {frame}" if frame is not None else ""
        raise ServiceValidationError({place: f"Item {item.pk} has no \"{key.name}\" vector{at}."})
    vector = [float(value) for value in row]
    if not any(vector):
        raise ServiceValidationError({place: f"Item {item.pk}'s \"{key.name}\" vector is zero: it has no direction."})
    return vector


def similar_items(*, items: QuerySet[Item], key: MetadataKey, vector: list[float], k: int = K_DEFAULT,
                  exclude_item=None) -> SimilarAnswer:
    """The ``k`` of ``items`` nearest to ``vector`` on ``key``, nearest first (item uuid breaks ties), each
    with its cosine distance. ``items`` is the Explorer's filtered scope (``explore_queryset``: the caller's
    visibility, scope and filter), passed in so this app stays below the Explorer. ``exclude_item`` (a pk)
    is left out: the source of "more like this". ``vector`` must already be checked (``query_vector_check``).
    """
    if exclude_item is not None:
        items = items.exclude(pk=exclude_item)
    items_sql, items_params = items.order_by().values("pk").query.sql_with_params()
    estimate, total = _estimates(key, items_sql, items_params)
    selectivity = min(1.0, estimate / total) if total else 1.0
    text = vector_text(vector)
    with transaction.atomic():  # SET LOCAL lives until the end of this transaction
        if estimate < EXACT_BELOW or selectivity < EXACT_SELECTIVITY:
            rows, plan = _exact(key, text, k, items_sql, items_params), "exact"
        else:
            rows, plan = _hnsw(key, text, k, items_sql, items_params, selectivity), "hnsw"
            if len(rows) < k:
                rows, plan = _exact(key, text, k, items_sql, items_params), "hnsw+exact"
    found = Item.objects.select_related("folder").in_bulk([pk for pk, _ in rows])
    hits = [SimilarHit(found[pk], distance) for pk, distance in rows if pk in found]
    return SimilarAnswer(hits, plan, estimate, selectivity)


def _candidates_sql(key: MetadataKey, items_sql: str) -> str:
    """The key's item-level vectors of the matching items. Unaliased, so the index expression of
    ``embedding_index`` can be repeated as it is (Django qualifies every column of ``items_sql``)."""
    return (f"FROM {Embedding._meta.db_table} WHERE key_id = {int(key.pk)} AND frame IS NULL "
            f"AND item_id IN ({items_sql})")


def _estimates(key: MetadataKey, items_sql: str, items_params) -> tuple[int, int]:
    """(matching items with a vector on the key, the key's item-level vectors): planner estimates. The
    second moves only with ANALYZE, so it is kept for ``KEY_TOTAL_TTL_S`` (one round trip less a query)."""
    with connection.cursor() as cursor:
        matching = _plan_rows(cursor, f"SELECT item_id {_candidates_sql(key, items_sql)}", items_params)
        cached = _key_totals.get(key.pk)
        if cached is not None and time.monotonic() - cached[1] < KEY_TOTAL_TTL_S:
            total = cached[0]
        else:
            total = _plan_rows(cursor, f"SELECT 1 FROM {Embedding._meta.db_table} "
                                       f"WHERE key_id = {int(key.pk)} AND frame IS NULL", [])
            _key_totals[key.pk] = (total, time.monotonic())
    return matching, max(total, matching)


def _plan_rows(cursor, sql: str, params) -> int:
    cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
    plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return max(0, round(plan[0]["Plan"]["Plan Rows"]))


def exact_sql(key: MetadataKey, items_sql: str) -> str:
    """Exact cosine distance over every matching vector; params: the items', the vector text, k. The
    MATERIALIZED CTE and the untyped ``vector <=> q`` (the index is over ``vector::vector(N)``) keep the
    HNSW index out of this plan: it would drop the matching rows the graph walk does not reach."""
    return (f"WITH matching AS MATERIALIZED ({items_sql}) "
            f"SELECT e.item_id, e.vector <=> %s::vector AS distance FROM {Embedding._meta.db_table} e "
            f"WHERE e.key_id = {int(key.pk)} AND e.frame IS NULL AND e.item_id IN (SELECT * FROM matching) "
            f"ORDER BY distance, e.item_id LIMIT %s")


def _exact(key: MetadataKey, text: str, k: int, items_sql: str, items_params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(exact_sql(key, items_sql), [*items_params, text, k])
        return [(pk, float(distance)) for pk, distance in cursor.fetchall()]


def hnsw_settings(kind: str, k: int, selectivity: float) -> tuple[int, int]:
    """(ef_search, candidates) for a query of ``k`` under a filter keeping ``selectivity`` of the key's
    vectors: the unfiltered ``ef_search`` divided by the selectivity, at least the candidate count, capped
    at pgvector's 1,000; the candidates at least twice ``k`` for the exact re-rank.

    Why: the filtered budget (p95 under 300 ms) has room the unfiltered one (median under 10 ms) has not,
    and recall is what a filter costs. Measured at 100k 512-d under a 10% filter, 60 queries, load ~5.5
    on 2 cores: ef_search 317 (1/sqrt scaling) recall@10 0.982 (worst query 0.7) at 35 ms median; 1,000
    (1/s) 0.993 (worst 0.8) at 70 ms. More candidates cost more than a wider ef_search: 100 candidates
    at ef_search 317 gave 0.988 at 66 ms, 200 gave 0.998 at 122 ms."""
    candidates = min(max(2 * k, CANDIDATES_MIN[kind]), EF_SEARCH_MAX)
    ef_search = math.ceil(EF_SEARCH_BASE[kind] / max(selectivity, 1e-3))
    return min(max(ef_search, candidates), EF_SEARCH_MAX), candidates


def hnsw_sql(key: MetadataKey, items_sql: str) -> str:
    """The index's candidates for the matching items, re-ranked by exact cosine distance; params: the
    items', the vector text, the candidate count, the vector text, k."""
    index = embedding_index(key)
    return (f"WITH candidates AS MATERIALIZED (SELECT item_id, vector {_candidates_sql(key, items_sql)} "
            f"ORDER BY {index.column} {index.operator} {index.query} LIMIT %s) "
            f"SELECT item_id, vector <=> %s::vector AS distance FROM candidates ORDER BY distance, item_id LIMIT %s")


def hnsw_session(cursor, kind: str, k: int, selectivity: float) -> int:
    """Set this transaction's HNSW scan (iterative, relaxed order; ``ef_search`` for the selectivity);
    returns the candidate count to fetch."""
    ef_search, candidates = hnsw_settings(kind, k, selectivity)
    # One round trip for the three SET LOCALs (set_config(..., true) is SET LOCAL).
    cursor.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                   "set_config('hnsw.ef_search', %s, true), set_config('hnsw.max_scan_tuples', %s, true)",
                   [str(int(ef_search)), str(int(MAX_SCAN_TUPLES))])
    return candidates


def _hnsw(key: MetadataKey, text: str, k: int, items_sql: str, items_params, selectivity: float) -> list[tuple]:
    with connection.cursor() as cursor:
        candidates = hnsw_session(cursor, embedding_index(key).kind, k, selectivity)
        cursor.execute(hnsw_sql(key, items_sql), [*items_params, text, candidates, text, k])
        return [(pk, float(distance)) for pk, distance in cursor.fetchall()]
