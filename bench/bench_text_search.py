"""Natural-language search end to end: embed a sentence with the built-in model, then search N text items.

    DATABASE_URL=postgres://.../loupe_bench_text python bench/bench_text_search.py --items 100000 [--queries 30]

The issue's target: embed + search over 100,000 text items, median < 100 ms. Builds the data set when
missing: an organisation ``Bench text N`` with N ready text items (one ``INSERT ... SELECT
generate_series``) and their vectors on the built-in ``text`` key (declared by
``schema_builtin_text_key_ensure``, as the workers do). The vectors are real model output: a pool of
``POOL`` synthetic sentences embedded by the built-in model, each item taking a pool vector plus a
little Gaussian noise (sigma ``NOISE``), re-normalised, so the data has the model's geometry without
embedding 100,000 documents first (~20 minutes on one core). Written with binary COPY, then the
key's HNSW index is rebuilt.

Per query it reports the median and p95 of: the embedding alone (``embed_text``), exact search
(cosine distance over every vector of the key, a sequential scan: what a filtered search over few
items does), the HNSW path (``embedding_index``, ``ef_search`` 40), and end to end (embed + exact).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.explorer_fixture import django_setup  # noqa: E402

POOL = 2000
NOISE = 0.02
SUBJECTS = ["The harbour", "A small bakery", "The city council", "Our football team", "The hospital", "A young pianist",
            "The research lab", "The railway company", "A local farmer", "The museum", "The airline", "A startup",
            "The school", "The fire brigade", "A fishing boat", "The orchestra", "The library", "A mountain village",
            "The police", "A software team"]
VERBS = ["reported", "announced", "celebrated", "postponed", "investigated", "planned", "cancelled", "described",
         "published", "rebuilt", "measured", "questioned"]
OBJECTS = ["record cargo volumes", "a new sourdough recipe", "the budget for next year", "a late winning goal",
           "a shortage of nurses", "its first concert abroad", "results on protein folding", "delays on the night trains",
           "a poor harvest after the drought", "a stolen painting", "cheaper flights to the islands",
           "a funding round", "exam results", "a forest fire near the border", "a storm at sea", "a Mahler symphony",
           "longer opening hours", "a landslide on the pass road", "a rise in burglaries", "a security bug"]
QUERIES = ["ships and containers in the port", "baking bread", "who won the match", "problems in hospitals",
           "classical music performance", "train delays", "wildfire", "software vulnerability", "art theft",
           "farmers and drought", "city spending plans", "cheap plane tickets", "a new company raised money",
           "students passed their exams", "bad weather for fishermen", "museum news", "piano recital",
           "scientific discovery about proteins", "crime statistics", "road closed by landslide"]


def _pool_sentences(rng: random.Random) -> list[str]:
    combos = [f"{s} {v} {o}." for s in SUBJECTS for v in VERBS for o in OBJECTS]
    return rng.sample(combos, POOL)


def _build(items: int, log=print):
    from django.db import connection, transaction

    from apps.core.models import Organisation, User
    from apps.core.services import organisation_member_set
    from apps.metadata.models import Embedding
    from apps.metadata.services.derived import vectors_copy
    from apps.metadata.services.schema import schema_builtin_text_key_ensure
    from apps.metadata.vector_indexes import embedding_index_drop_sql, embedding_index_sql
    from apps.similarity.text_model import text_embed
    from apps.storage.models import Folder, Item
    from apps.storage.services.folders import folder_create

    organisation, _ = Organisation.objects.get_or_create(name=f"Bench text {items}")
    admin = User.objects.filter(email=f"bench-text-{items}@example.com").first()
    if admin is None:
        admin = User.objects.create_user(email=f"bench-text-{items}@example.com", password="bench-pw-1")
        organisation_member_set(organisation=organisation, user=admin, role="admin")
    folder = Folder.objects.filter(organisation=organisation, parent=None).first() or folder_create(
        user=admin, name="documents", organisation=organisation)
    key = schema_builtin_text_key_ensure(organisation=organisation)
    if Embedding.objects.filter(key=key).count() >= items:
        return key
    started = time.perf_counter()
    pool = text_embed(_pool_sentences(random.Random(0)))
    log(f"embedded the {POOL:,}-sentence pool in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor, transaction.atomic():
        # Item rows in one statement (no import job: this measures search, not registration).
        cursor.execute(
            "INSERT INTO storage_item (uuid, item_type, name, client_metadata, status, file_size, folder_id, "
            "organisation_id, created_at, updated_at) "
            "SELECT md5(%(org)s || g::text)::uuid, 'text', 'doc-' || lpad(g::text, 7, '0') || '.txt', '{}', 'ready', "
            "1000 + g %% 5000, %(folder)s::uuid, %(org)s::uuid, now(), now() FROM generate_series(0, %(n)s - 1) g "
            "ON CONFLICT DO NOTHING",
            {"org": str(organisation.pk), "folder": str(folder.pk), "n": items},
        )
        ids = list(Item.objects.filter(organisation=organisation).order_by("pk").values_list("pk", flat=True))[:items]
        Embedding.objects.filter(key=key).delete()
        cursor.execute(embedding_index_drop_sql(key))
        rng = np.random.default_rng(0)
        for start in range(0, len(ids), 10_000):
            chunk = ids[start:start + 10_000]
            base = pool[rng.integers(0, POOL, len(chunk))]
            noisy = base + rng.normal(0, NOISE, base.shape).astype(np.float32)
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            vectors_copy([(key.pk, pk, None, vector) for pk, vector in zip(chunk, noisy, strict=True)])
    with connection.cursor() as cursor:  # after the commit: the COPY left deferred FK checks pending
        cursor.execute(embedding_index_sql(key))
        cursor.execute("VACUUM ANALYZE metadata_embedding")
    log(f"built {items:,} items with vectors and the HNSW index in {time.perf_counter() - started:.1f} s")
    return key


def _search(key, vector: list[float], *, exact: bool) -> list:
    from django.db import connection, transaction

    from apps.metadata.vector_indexes import embedding_index

    index = embedding_index(key)
    text = "[" + ",".join(repr(x) for x in vector) + "]"
    with transaction.atomic(), connection.cursor() as cursor:
        if exact:
            # No index expression: PostgreSQL computes the distance to every vector of the key.
            cursor.execute("SELECT item_id, vector <=> %s::vector AS d FROM metadata_embedding WHERE key_id = %s "
                           "ORDER BY d LIMIT 10", [text, key.pk])
        else:
            cursor.execute("SET LOCAL hnsw.ef_search = 40")
            cursor.execute(f"SELECT item_id FROM metadata_embedding WHERE {index.predicate} "
                           f"ORDER BY {index.column} {index.operator} {index.query} LIMIT 10", [text])
        return [row[0] for row in cursor.fetchall()]


def _stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(values):7.1f} ms   p95 {p95:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()
    django_setup()
    from apps.similarity.embedders import embed_text
    from apps.similarity.text_model import text_model

    key = _build(args.items)
    text_model()  # loaded once per process, as in a worker or web process
    for query in QUERIES[:3]:  # warm the caches (shared buffers, the index pages)
        vector = embed_text(key=key, text=query)
        _search(key, vector, exact=True)
        _search(key, vector, exact=False)
    embed, exact, hnsw, total, overlap = [], [], [], [], []
    for n in range(args.queries):
        query = QUERIES[n % len(QUERIES)]
        t0 = time.perf_counter()
        vector = embed_text(key=key, text=query)
        t1 = time.perf_counter()
        exact_ids = _search(key, vector, exact=True)
        t2 = time.perf_counter()
        hnsw_ids = _search(key, vector, exact=False)
        t3 = time.perf_counter()
        embed.append((t1 - t0) * 1000)
        exact.append((t2 - t1) * 1000)
        hnsw.append((t3 - t2) * 1000)
        total.append((t2 - t0) * 1000)
        overlap.append(len(set(exact_ids) & set(hnsw_ids)) / 10)
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[0]
    print(f"{args.items:,} text items, {args.queries} queries, load average {load}")
    print(f"  embed (built-in model)     {_stats(embed)}")
    print(f"  exact search, top 10       {_stats(exact)}")
    print(f"  HNSW search, top 10        {_stats(hnsw)}   recall@10 vs exact {statistics.mean(overlap):.3f}")
    print(f"  end to end (embed + exact) {_stats(total)}")


if __name__ == "__main__":
    main()
