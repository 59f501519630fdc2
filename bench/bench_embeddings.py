"""Embedding load benchmark: N images, each with a 512-d embedding, imported and indexed.

    python bench/bench_embeddings.py --items 1000000 [--size 512] [--workers 2]

Writes N image entries (imageMetadata supplied, clustered unit vectors under the embedding key
``clip``) into import files of at most 500,000 entries under var/bench/emb-<N>-<D>, declares the
key (which creates its HNSW index), and imports the files through real Celery workers. Large
imports set the key's index aside while they load and rebuild it when the last one ends
(apps/metadata/services/bulk_load.py), so the figures come in two parts: the load (parse, validate,
COPY of items and vectors) and the index build. Finally checks the index: recall@10 of 50 queries
against exact search, and the median query time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FILE_ENTRIES = 500_000


def _write_data(items: int, size: int) -> list[Path]:
    from bench.generate import VECTOR_CLUSTERS, ClusteredVectors

    out = ROOT / "var" / "bench" / f"emb-{items}-{size}"
    out.mkdir(parents=True, exist_ok=True)
    files = []
    vectors = ClusteredVectors(seed=0, size=size)
    rng = np.random.default_rng(7)
    leaf = SimpleNamespace(clusters=list(range(VECTOR_CLUSTERS)))
    for part, start in enumerate(range(0, items, FILE_ENTRIES)):
        path = out / f"images-{part:03d}.json"
        files.append(path)
        if path.exists():
            continue
        count = min(FILE_ENTRIES, items - start)
        with open(path.with_suffix(".tmp"), "w") as handle:
            handle.write('{"images": [')
            for lo in range(start, start + count, 8192):
                n = min(8192, start + count - lo)
                texts = vectors.texts(rng, leaf, n)
                handle.write(",".join(
                    f'{{"objectUrl": "s3://loupe-bench/emb/{i:07d}.jpg", "imageMetadata": {{"mime_type": '
                    f'"image/jpeg", "file_size": 123456, "width": 1280, "height": 720}}, '
                    f'"clientMetadata": {{"camera": "cam-{i % 50}", "clip": {text}}}}}'
                    for i, text in zip(range(lo, lo + n), texts)
                ) + ("," if lo + n < start + count else ""))
            handle.write("]}")
        path.with_suffix(".tmp").rename(path)
    return files


def _recall(key, queries: int = 50, k: int = 10) -> dict:
    from django.db import connection, transaction

    from apps.metadata.vector_indexes import embedding_index

    index = embedding_index(key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT vector::text FROM metadata_embedding WHERE key_id = %s ORDER BY random() LIMIT %s",
                       [key.pk, queries])
        probes = [row[0] for row in cursor.fetchall()]
    recalls, timings = [], []
    for probe in probes:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.ef_search = 100")
            started = time.perf_counter()
            cursor.execute(
                f"SELECT item_id FROM metadata_embedding WHERE {index.predicate} "
                f"ORDER BY {index.column} {index.operator} {index.query} LIMIT {k}", [probe])
            approx = {row[0] for row in cursor.fetchall()}
            timings.append(time.perf_counter() - started)
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute(
                f"SELECT item_id FROM metadata_embedding WHERE key_id = %s ORDER BY vector <=> %s::vector LIMIT {k}",
                [key.pk, probe])
            exact = {row[0] for row in cursor.fetchall()}
        recalls.append(len(approx & exact) / k)
    return {"queries": len(probes), "recall_at_10": round(sum(recalls) / len(recalls), 3),
            "median_query_ms": round(1000 * sorted(timings)[len(timings) // 2], 1)}


def run(items: int, size: int, workers: int) -> dict:
    from bench.bench_import import PeakMemory, _bench_env, _recreate_database

    started = time.perf_counter()
    files = _write_data(items, size)
    generated = time.perf_counter() - started
    env = _bench_env()
    _recreate_database(env)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "LOUPE_LOG_LEVEL")})
    import django

    django.setup()
    from django.core.files import File

    from apps.core.models import User
    from apps.core.services import organisation_default_get_or_create
    from apps.metadata.services.schema import schema_key_add
    from apps.storage.models import ImportJob
    from apps.storage.services.folders import folder_create
    from apps.imports.services.imports import import_job_create
    from config.celery import app

    org = organisation_default_get_or_create()
    user = User.objects.create_superuser(email="bench@loupe.local", password="bench")
    key = schema_key_add(user=user, organisation=org, name="clip", type="embedding", size=size)
    from apps.storage.services.integrations import integration_s3_create

    integration = integration_s3_create(organisation=org, name="loupe-bench", client_only=True)
    folder = folder_create(user=user, name="embeddings", organisation=org)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning", "--concurrency",
         str(workers), "-n", "bench@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    memory = PeakMemory(worker.pid)
    memory.start()
    try:
        while not app.control.ping(timeout=0.5):
            time.sleep(0.2)
        load_started = time.perf_counter()
        job_ids = []
        for path in files:
            with open(path, "rb") as handle:
                job_ids.append(import_job_create(user=user, folder=folder, integration=integration,
                                                 fileobj=File(handle, name=path.name)).pk)
        loaded_at = None
        while True:
            jobs = list(ImportJob.objects.filter(pk__in=job_ids).values("status", "registered", "failed", "total"))
            if loaded_at is None and all(j["total"] is not None and j["registered"] + j["failed"] >= j["total"] for j in jobs):
                loaded_at = time.perf_counter()
            if all(j["status"] in ("DONE", "ERROR", "CANCELLED") for j in jobs):
                finished_at = time.perf_counter()
                break
            time.sleep(0.5)
    finally:
        memory.stop.set()
        worker.terminate()
        worker.wait(timeout=120)
    from apps.metadata.models import Embedding

    vectors = Embedding.objects.filter(key=key).count()
    load_s = (loaded_at or finished_at) - load_started
    return {
        "items": items, "embedding_size": size, "workers": workers, "data_generation_s": round(generated, 1),
        "jobs": [j["status"] for j in jobs], "registered": sum(j["registered"] for j in jobs),
        "vectors": vectors, "load_s": round(load_s, 1), "load_items_per_s": round(items / load_s),
        "index_build_s": round(finished_at - (loaded_at or finished_at), 1),
        "total_s": round(finished_at - load_started, 1), "worker_peak_rss_mib": round(memory.peak / 2**20),
        "index_check": _recall(key),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.items, args.size, args.workers), indent=2))


if __name__ == "__main__":
    main()
