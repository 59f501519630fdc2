"""Similarity benchmark: nearest items on a 512-d key, unfiltered and under filters, vs exact search.

    python bench/bench_similarity.py --items 100000 [--queries 50] [--keep]

Creates a fresh database ``loupe_bench_similarity`` (``LOUPE_BENCH_DB``) on the same PostgreSQL, an
organisation with an admin, one folder, an embedding key ``clip`` (512-d) and a number key ``u``. Loads
N items (``u`` uniform in [0, 1), so ``u < 0.001`` selects 0.1%, ``u < 0.5`` 50%) in one
``INSERT ... SELECT``, and their vectors, drawn with numpy (seeded) from a mixture of 1,000 Gaussian
clusters, with a binary ``COPY`` (``apps.metadata.services.derived.vectors_copy``, as imports write
them). The key's HNSW index is set aside during the load and rebuilt as a large import does
(``key_indexes_suspend``/``key_indexes_resume``), the Explorer's indexes and statistics as the schema
task does (``key_indexes_sync``). Then, through the selector the API calls
(``apps.similarity.search.similar_items``: estimate, plan, query, items loaded), top-10 of ``--queries``
stored vectors ("more like this", the source left out) unfiltered and at each selectivity: median and
p95 ms, recall@10 against the exact answer for the same filter, and which plan ran.
``--keep`` reuses the loaded database of an earlier run with the same ``--items``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.bench_db import bench_env, database_recreate  # noqa: E402
BENCH_DB = os.environ.get("LOUPE_BENCH_DB", "loupe_bench_similarity")
SIZE = 512
CLUSTERS = 1000
SPREAD = 0.7  # noise norm relative to the unit centre: cosine to the centre ~0.82, clusters overlap a little
BATCH = 20_000  # vectors per COPY: ~40 MB of float32 rows packed at a time
SELECTIVITIES = (0.001, 0.01, 0.1, 0.5)
K = 10


def _bench_env() -> dict:
    return bench_env(BENCH_DB, 14)


def _recreate_database(env: dict) -> None:
    database_recreate(env, BENCH_DB)


def clustered_vectors(n: int, *, seed: int = 0):
    """Yield ``n`` unit vectors in blocks of ``BATCH``: a mixture of ``CLUSTERS`` Gaussian clusters with
    gamma-distributed weights (some clusters large, most small), as real embeddings bunch up."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, SIZE)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.gamma(1.0, size=CLUSTERS)
    weights /= weights.sum()
    for lo in range(0, n, BATCH):
        m = min(BATCH, n - lo)
        picked = rng.choice(CLUSTERS, m, p=weights)
        block = centres[picked] + rng.standard_normal((m, SIZE)).astype(np.float32) * (SPREAD / np.sqrt(SIZE))
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        yield block


def _load(items: int) -> dict:
    from django.db import connection

    from apps.core.models import User
    from apps.core.services import organisation_default_get_or_create, organisation_member_set
    from apps.explorer.indexes import key_indexes_sync
    from apps.metadata import hooks
    from apps.metadata.services.bulk_load import key_indexes_resume, key_indexes_suspend
    from apps.metadata.services.derived import vectors_copy
    from apps.metadata.services.schema import schema_key_add
    from apps.storage.services.folders import folder_create

    org = organisation_default_get_or_create()
    user = User.objects.create_user(email="similarity-bench@loupe.local", password="bench-similarity")
    organisation_member_set(organisation=org, user=user, role="admin")
    folder = folder_create(user=user, name="vectors", organisation=org)
    hooks.hook_set("key_indexes_changed", lambda organisation_id: None)  # built below, in this process
    key = schema_key_add(user=user, organisation=org, name="clip", type="embedding", size=SIZE)
    schema_key_add(user=user, organisation=org, name="u", type="number")
    key_ids = key_indexes_suspend(organisation_id=org.pk)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")  # the same u values every run (one serial INSERT)
        cursor.execute(
            "INSERT INTO storage_item (uuid, organisation_id, folder_id, item_type, name, status, client_metadata, "
            "created_at, updated_at) SELECT gen_random_uuid(), %s, %s, 'image', 'img_' || lpad(i::text, 7, '0') "
            "|| '.jpg', 'ready', jsonb_build_object('u', round(random()::numeric, 6)), "
            "now() - i * interval '1 second', now() - i * interval '1 second' FROM generate_series(1, %s) i",
            [org.pk, folder.pk, items])
        cursor.execute("SELECT uuid FROM storage_item WHERE organisation_id = %s ORDER BY name", [org.pk])
        uuids = [row[0] for row in cursor.fetchall()]
    items_s = time.perf_counter() - started
    started = time.perf_counter()
    done = 0
    for block in clustered_vectors(items):
        vectors_copy([(key.pk, uuids[done + i], None, block[i]) for i in range(len(block))])
        done += len(block)
    vectors_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE storage_item")
        cursor.execute("VACUUM ANALYZE metadata_embedding")
    build = key_indexes_resume(key_ids=key_ids)
    sync = key_indexes_sync(organisation_id=org.pk)
    return {"items_insert_s": round(items_s, 1), "vectors_copy_s": round(vectors_s, 1),
            "vectors_per_s": round(items / vectors_s), "hnsw_build_s": round(build.get(key.pk, 0.0), 1),
            "explorer_index_build_s": round(sync.seconds, 1)}


def _summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"median_ms": round(1000 * statistics.median(ordered), 1),
            "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1)}


def _measure(user, org, key, probes, tree) -> dict:
    """Top-``K`` of each probe under ``tree``: timings, recall@K against the exact answer, plans."""
    from django.db import transaction

    from apps.explorer.selectors import explore_queryset
    from apps.similarity import search

    times, recalls, plans = [], [], {}
    for item_pk, vector in probes:
        started = time.perf_counter()
        answer = search.similar_items(items=explore_queryset(user=user, organisation=org, tree=tree), key=key,
                                      vector=vector, k=K, exclude_item=item_pk)
        times.append(time.perf_counter() - started)
        plans[answer.plan] = plans.get(answer.plan, 0) + 1
        items = explore_queryset(user=user, organisation=org, tree=tree).exclude(pk=item_pk)
        sql, params = items.order_by().values("pk").query.sql_with_params()
        with transaction.atomic():
            exact = search._exact(key, search.vector_text(vector), K, sql, params)
        expected = {pk for pk, _ in exact}
        got = {hit.item.pk for hit in answer.hits}
        recalls.append(len(got & expected) / max(1, len(expected)))
    return {**_summary(times), f"recall_at_{K}": round(statistics.mean(recalls), 3),
            f"min_recall_at_{K}": round(min(recalls), 2), "plans": plans,
            "estimate_last": answer.estimate, "selectivity_estimate_last": round(answer.selectivity, 4)}


def run(items: int, queries: int, keep: bool) -> dict:
    env = _bench_env()
    marker = ROOT / "var" / "bench" / f"{BENCH_DB}.items"
    reuse = keep and marker.exists() and marker.read_text().strip() == str(items)
    if not reuse:
        _recreate_database(env)
    os.environ.update(env)
    import django

    django.setup()
    from apps.core.models import User
    from apps.explorer.filters import filter_from_json
    from apps.metadata.models import Embedding, MetadataKey
    from apps.core.models import Organisation

    load = {"reused": True} if reuse else _load(items)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(items))
    org = Organisation.objects.get()
    user = User.objects.get(email="similarity-bench@loupe.local")
    key = MetadataKey.objects.get(organisation=org, name="clip")
    rng = np.random.default_rng(11)
    picked = rng.choice(items, size=queries, replace=False)
    rows = list(Embedding.objects.filter(key=key).order_by("item__name").values_list("item_id", flat=True))
    probes = [(rows[i], [float(v) for v in Embedding.objects.get(key=key, item_id=rows[i], frame=None).vector])
              for i in picked]
    load_average = os.getloadavg()
    results = {"unfiltered": _measure(user, org, key, probes, None)}
    for share in SELECTIVITIES:
        tree = filter_from_json({"key": "u", "op": "lt", "value": share})
        results[f"u < {share} ({share:.1%})"] = _measure(user, org, key, probes, tree)
    return {"items": items, "size": SIZE, "clusters": CLUSTERS, "queries": queries, "k": K, "load": load,
            "load_average_before": [round(x, 2) for x in load_average],
            "load_average_after": [round(x, 2) for x in os.getloadavg()], "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="reuse the database of an earlier run with these --items")
    args = parser.parse_args()
    print(json.dumps(run(args.items, args.queries, args.keep), indent=2))


if __name__ == "__main__":
    main()
