"""``apps.similarity.search.similar_items`` against numpy's exact answers: recall at several
selectivities on both plans, distance ordering, the fallback when the index falls short, and the plans
PostgreSQL really runs (the exact plan must not touch the HNSW index, the HNSW plan must)."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection, transaction

from apps.explorer.filters import filter_from_json
from apps.explorer.selectors import explore_queryset
from apps.metadata.models import MetadataKey
from apps.metadata.vector_indexes import embedding_index_name
from apps.similarity import search
from tests.similarity.fixtures import build, exact_nearest

N, SIZE, K = 3000, 32, 10
SHARES = (0.01, 0.1, 0.5, 1.0)


@pytest.fixture
def world(db, org, make_user):
    """3,000 items with vectors, analysed inside the test's transaction (so the statistics roll back
    with it and no later test plans with them)."""
    admin = make_user(org, role="admin")
    folder_a, folder_b, items, vectors, u = build(org, admin, n=N, size=SIZE)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE storage_item")
        cursor.execute("ANALYZE metadata_embedding")
    key = MetadataKey.objects.get(organisation=org, name="clip")
    return {"admin": admin, "org": org, "items": items, "vectors": vectors, "u": u, "key": key,
            "a": folder_a, "b": folder_b}


def similar(world, vector, *, k=K, tree=None, scope_folder=None, exclude_item=None, user=None, key=None):
    """``similar_items`` over the Explorer's filtered scope, as the Explorer's callers build it."""
    user = user or world["admin"]
    items = explore_queryset(user=user, organisation=world["org"], tree=tree, scope_folder=scope_folder)
    return search.similar_items(items=items, key=key or world["key"], vector=vector, k=k, exclude_item=exclude_item)


def _tree(share):
    return None if share >= 1 else filter_from_json({"key": "u", "op": "lt", "value": share})


def _recall(world, share, probes) -> tuple[float, set[str]]:
    items, vectors, u = world["items"], world["vectors"], world["u"]
    recalls, plans = [], set()
    for row in probes:
        mask = u < share
        mask[row] = False  # the source is left out
        expected = [items[i].pk for i, _ in exact_nearest(vectors, vectors[row], mask, K)]
        answer = similar(world, vectors[row].tolist(), tree=_tree(share), exclude_item=items[row].pk)
        got = [hit.item.pk for hit in answer.hits]
        assert len(got) == K and items[row].pk not in got
        recalls.append(len(set(got) & set(expected)) / K)
        plans.add(answer.plan)
    return float(np.mean(recalls)), plans


def test_exact_plan_is_exact_at_every_selectivity_in_order_with_numpy_distances(world):
    items, vectors, u = world["items"], world["vectors"], world["u"]
    for share in SHARES:
        row = 17
        mask = u < share
        mask[row] = False
        expected = exact_nearest(vectors, vectors[row], mask, K)
        answer = similar(world, vectors[row].tolist(), tree=_tree(share), exclude_item=items[row].pk)
        assert answer.plan == "exact"  # 3,000 items: always under EXACT_BELOW
        assert [h.item.pk for h in answer.hits] == [items[i].pk for i, _ in expected]
        assert max(abs(h.distance - d) for h, (_, d) in zip(answer.hits, expected)) < 1e-5
        assert all(a.distance <= b.distance for a, b in zip(answer.hits, answer.hits[1:]))
    _scope_folder_and_a_large_k(world)
    _exact_plan_never_uses_the_index_and_hnsw_plan_does(world)


def test_hnsw_plan_keeps_recall_under_filters_and_falls_back_to_exact(world, monkeypatch):
    monkeypatch.setattr(search, "EXACT_BELOW", 0)
    monkeypatch.setattr(search, "EXACT_SELECTIVITY", 0)
    probes = np.random.default_rng(5).choice(N, 20, replace=False)
    for share in SHARES:
        recall, plans = _recall(world, share, probes)
        assert plans == {"hnsw"}, (share, plans)
        assert recall >= 0.95, (share, recall)
    # Fewer matches than k: the index gives too few candidates, the exact search runs, all are returned.
    items, vectors, u = world["items"], world["vectors"], world["u"]
    share = float(np.sort(u)[6])  # 6 items match, fewer than k
    answer = similar(world, vectors[0].tolist(), tree=_tree(share))
    expected = exact_nearest(vectors, vectors[0], u < share, K)
    assert answer.plan == "hnsw+exact"
    assert [h.item.pk for h in answer.hits] == [items[i].pk for i, _ in expected] and len(expected) == 6


def _scope_folder_and_a_large_k(world):
    items, vectors = world["items"], world["vectors"]
    mask = np.array([i % 2 == 1 for i in range(N)])  # folder b
    expected = exact_nearest(vectors, vectors[3], mask, 1000)
    answer = similar(world, vectors[3].tolist(), k=1000, scope_folder=world["b"])
    assert [h.item.pk for h in answer.hits] == [items[i].pk for i, _ in expected]


def _plan(world, sql, params):
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT TEXT) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _exact_plan_never_uses_the_index_and_hnsw_plan_does(world):
    key, vectors = world["key"], world["vectors"]
    text = search.vector_text(vectors[0].tolist())
    index = embedding_index_name(key)
    with transaction.atomic():
        with connection.cursor() as cursor:  # even where the planner would like the index most
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
        for tree in (None, _tree(0.5)):
            items_sql, params = explore_queryset(user=world["admin"], organisation=world["org"], tree=tree) \
                .order_by().values("pk").query.sql_with_params()
            assert index not in _plan(world, search.exact_sql(key, items_sql), [*params, text, K])
            with connection.cursor() as cursor:
                candidates = search.hnsw_session(cursor, "vector", K, 0.5)
            assert f"Index Scan using {index}" in _plan(world, search.hnsw_sql(key, items_sql),
                                                        [*params, text, candidates, text, K])


def test_hnsw_settings_scale_with_selectivity():
    assert search.hnsw_settings("vector", 10, 1.0) == (200, 100)
    assert search.hnsw_settings("vector", 10, 0.1) == (1000, 100)
    assert search.hnsw_settings("vector", 10, 0.5) == (400, 100)
    assert search.hnsw_settings("vector", 10, 0.01) == (1000, 100)
    assert search.hnsw_settings("vector", 300, 1.0) == (600, 600)
    assert search.hnsw_settings("bit", 10, 1.0) == (200, 200)
    assert search.hnsw_settings("vector", 1000, 0.01) == (1000, 1000)


@pytest.mark.parametrize("size", [2001, 4096])
def test_wide_keys_halfvec_and_bit_indexes_answer_like_exact(db, org, make_user, monkeypatch, size):
    """The halfvec (2,001-4,000-d) and binary-quantized bit (4,096-d) indexes on the HNSW path, re-ranked
    exactly: the same answer as the exact plan on a small set."""
    admin = make_user(org, role="admin")
    _a, _b, items, vectors, _u = build(org, admin, n=40, size=size, clusters=4, key="wide")
    key = MetadataKey.objects.get(organisation=org, name="wide")
    expected = [items[i].pk for i, _ in exact_nearest(vectors, vectors[0], np.arange(40) != 0, 5)]
    monkeypatch.setattr(search, "EXACT_BELOW", 0)
    monkeypatch.setattr(search, "EXACT_SELECTIVITY", 0)
    answer = search.similar_items(items=explore_queryset(user=admin, organisation=org), key=key,
                                  vector=vectors[0].tolist(), k=5, exclude_item=items[0].pk)
    assert answer.plan == "hnsw" and [h.item.pk for h in answer.hits] == expected
