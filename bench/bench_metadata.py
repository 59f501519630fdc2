"""Metadata write benchmarks: bulk merges over real HTTP, and a 100,000-row merge job on a real worker.

    python bench/bench_metadata.py [--items 100000] [--requests 30] [--profile]

Builds a fresh benchmark database ``loupe_bench_metadata`` on the same PostgreSQL (its own name and
Redis database, so it can run beside bench_import.py), registers the bench/generate.py data set of
``--items`` entries with 8-key metadata (cached under var/bench/metadata-<N>; imported in-process
through the import engine), then:

* ``bulk_merge_1000``: ``--requests`` requests of ``POST /api/v1/metadata/bulk``, each merging 2 keys
  into 1,000 different items, against gunicorn on a free 127.0.0.1 port (DEBUG off), one at a time
  after 4 warm-up requests. Reports the median and p95 of the server time (the endpoint's
  ``Server-Timing: app;dur=`` header: dispatch to rendered body) and of the client-side round trip.
* ``merge_job_100k``: a CSV metadata job (``uuid,reviewed,score``) over every top-level item, run by
  one Celery worker process; items/s over the job's own run time and over submit-to-done.
* ``merge_job_100k_url``: the same as a JSON job matching items by url.

``--profile`` instead runs one merge job in-process under cProfile and prints the top functions.
Prints JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "loupe_bench_metadata"
REDIS_DB = 13  # bench_import.py uses 14 and the tests 15
BULK_ITEMS = 1000
WARMUP_REQUESTS = 4  # each of gunicorn's 2 workers loads URL conf and DRF on its first request (~0.4 s)


def _bench_env() -> dict:
    from config import embedded, env

    base_url = env.get_str("DATABASE_URL") or embedded.ensure_postgres(env.var_dir()).url
    redis_url = env.get_str("REDIS_URL") or embedded.ensure_redis(env.var_dir()).url
    return {**os.environ, "DATABASE_URL": base_url.rsplit("/", 1)[0] + f"/{BENCH_DB}",
            "REDIS_URL": redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}", "DJANGO_DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings.local", "LOUPE_LOG_LEVEL": "WARNING"}


def _recreate_database(env: dict) -> None:
    import psycopg

    admin_url = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def _dataset(items: int) -> Path:
    out = ROOT / "var" / "bench" / f"metadata-{items}"
    if not (out / "manifest.json").exists():
        subprocess.run([sys.executable, "bench/generate.py", "--items", str(items), "--embedding-size", "0",
                        "--out", str(out)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return out


def _load(dataset: Path) -> dict:
    """Schema, folders and items of the data set, registered in-process by the import engine."""
    from django.core.files import File
    from django.db import connection

    from apps.core.models import User
    from apps.core.services import organisation_default_get_or_create, organisation_member_set
    from apps.metadata.services.schema import schema_save
    from apps.storage.models import ImportJob, ImportJobStatus
    from apps.storage.services.folders import folder_create
    from apps.imports.services.imports import import_job_run
    from apps.storage.services.integrations import integration_s3_create

    org = organisation_default_get_or_create()
    user = User.objects.create_superuser(email="bench@loupe.local", password="bench")
    organisation_member_set(organisation=org, user=user, role="admin")
    schema_save(user=user, organisation=org, body=json.loads((dataset / "schema.json").read_text()))
    integration = integration_s3_create(organisation=org, name="loupe-bench", client_only=True)
    folders: dict[str, object] = {}
    for entry in json.loads((dataset / "folders.json").read_text())["folders"]:
        parent = folders.get(entry["parent"]) if entry["parent"] else None
        folders[entry["path"]] = folder_create(user=user, name=entry["path"].rsplit("/", 1)[-1], parent=parent,
                                               organisation=org)
    started = time.perf_counter()
    for entry in json.loads((dataset / "manifest.json").read_text())["files"]:
        job = ImportJob(organisation=org, folder=folders[entry["folder"]], integration=integration,
                        created_by=user, file_name=Path(entry["file"]).name)
        with open(dataset / entry["file"], "rb") as handle:
            job.source.save(job.file_name, File(handle), save=False)
        job.save()
        finished = import_job_run(job_id=job.pk)
        assert finished.status == ImportJobStatus.DONE, finished.error
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    roots = [f for f in folders.values() if f.parent_id is None]
    return {"org": org, "user": user, "root": roots[0] if len(roots) == 1 else None,
            "import_seconds": round(time.perf_counter() - started, 1)}


def _top_level_items() -> list[tuple[str, str]]:
    from apps.storage.models import Item

    rows = Item.objects.filter(parent__isnull=True).order_by("import_job", "import_index").values_list("uuid", "url")
    return [(str(pk), url) for pk, url in rows]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(env: dict) -> tuple[subprocess.Popen, str]:
    import requests

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "2",
         "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/api/v1/", timeout=10)  # the first request waits for Django to load
            return server, base
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def bulk_merge(env: dict, user, items: list[tuple[str, str]], requests_count: int) -> dict:
    import requests

    from apps.core.services import api_token_create

    token = api_token_create(user=user, name="bench")[1]
    rng = random.Random(0)
    sample = rng.sample(items, BULK_ITEMS * (requests_count + WARMUP_REQUESTS))
    server, base = _start_server(env)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    timings, server_timings = [], []
    try:
        for n in range(requests_count + WARMUP_REQUESTS):
            chunk = sample[n * BULK_ITEMS:(n + 1) * BULK_ITEMS]
            body = {"mode": "merge", "items": {pk: {"reviewed": rng.random() < 0.5, "score": round(rng.random(), 4)}
                                               for pk, _ in chunk}}
            data = json.dumps(body)
            started = time.perf_counter()
            response = session.post(f"{base}/api/v1/metadata/bulk", data=data,
                                    headers={"Content-Type": "application/json"}, timeout=60)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"bulk request {n}: {response.status_code} {response.text[:300]}")
            if n >= WARMUP_REQUESTS:
                timings.append(elapsed * 1000)
                if "Server-Timing" in response.headers:
                    server_timings.append(_server_ms(response.headers["Server-Timing"]))
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {"requests": requests_count, "items_per_request": BULK_ITEMS, "target_median_ms": 150}
    if server_timings:
        result |= {"server_median_ms": round(statistics.median(server_timings), 1),
                   "server_p95_ms": round(_percentile(server_timings, 0.95), 1),
                   "server_min_ms": round(min(server_timings), 1), "server_max_ms": round(max(server_timings), 1)}
    result |= {"median_ms": round(statistics.median(timings), 1), "p95_ms": round(_percentile(timings, 0.95), 1),
               "min_ms": round(min(timings), 1), "max_ms": round(max(timings), 1)}
    return result


def _server_ms(header: str) -> float:
    """The ``dur`` of ``app;dur=12.3`` (the only metric the bulk endpoint reports)."""
    return float(header.split("dur=", 1)[1].split(",", 1)[0])


def _csv_file(items: list[tuple[str, str]], seed: int) -> bytes:
    rng = random.Random(seed)
    lines = ["uuid,reviewed,score"]
    lines += [f"{pk},{'true' if rng.random() < 0.5 else 'false'},{round(rng.random(), 4)}" for pk, _ in items]
    return ("\n".join(lines) + "\n").encode()


def _json_by_url_file(items: list[tuple[str, str]], seed: int) -> bytes:
    rng = random.Random(seed)
    rows = {url: {"reviewed": rng.random() < 0.5, "score": round(rng.random(), 4)} for _, url in items if url}
    return json.dumps({"mode": "merge", "match": "url", "items": rows}).encode()


def _submit(loaded: dict, name: str, content: bytes):
    from django.core.files.base import ContentFile

    from apps.metadata.services.jobs import metadata_job_create

    scope = {"folder": loaded["root"]} if loaded["root"] is not None else {"organisation": loaded["org"]}
    return metadata_job_create(user=loaded["user"], fileobj=ContentFile(content, name), **scope)


def _wait_job(job_id, timeout: float = 1800):
    from apps.metadata.models import MetadataJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = MetadataJob.objects.get(pk=job_id)
        if job.is_finished:
            return job
        time.sleep(0.1)
    raise RuntimeError(f"metadata job {job_id} did not finish")


def merge_job(env: dict, loaded: dict, name: str, content: bytes) -> dict:
    from apps.metadata.models import MetadataChange

    from config.celery import app

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning", "--concurrency", "1",
         "-n", f"bench-metadata-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        while not app.control.ping(timeout=0.5):
            time.sleep(0.2)
        history_before = MetadataChange.objects.count()
        submitted = time.perf_counter()
        job = _wait_job(_submit(loaded, name, content).pk)
        wall = time.perf_counter() - submitted
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    run = (job.finished_at - job.started_at).total_seconds()
    return {
        "file": name, "file_mib": round(len(content) / 2**20, 1), "status": job.status, "rows": job.total,
        "done": job.done, "failed": job.failed, "history_rows": MetadataChange.objects.count() - history_before,
        "run_seconds": round(run, 2), "items_per_s": round(job.done / run), "submit_to_done_seconds": round(wall, 2),
        "items_per_s_submit_to_done": round(job.done / wall), "target_items_per_s": 10_000,
    }


def profile_job(loaded: dict, content: bytes, top: int = 35) -> str:
    """One CSV merge job run in-process under cProfile (the task would run exactly this)."""
    from django.core.files.base import ContentFile

    from apps.metadata.models import MetadataJob
    from apps.metadata.services.jobs import metadata_job_run

    job = MetadataJob.objects.create(organisation=loaded["org"], folder=loaded["root"], created_by=loaded["user"],
                                     file_format="csv", source=ContentFile(content, "profile.csv"))
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    job = metadata_job_run(job_id=job.pk)
    profiler.disable()
    elapsed = time.perf_counter() - started
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return f"{job.status} {job.done} rows in {elapsed:.2f} s ({job.done / elapsed:,.0f}/s, under cProfile)\n" + \
        out.getvalue()


def run(items: int, requests_count: int, profile: bool) -> dict:
    env = _bench_env()
    dataset = _dataset(items)
    _recreate_database(env)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "LOUPE_LOG_LEVEL",
                                           "DJANGO_DEBUG")})
    import django

    django.setup()
    from config.celery import app

    app.control.purge()  # nothing left over from an interrupted run on this Redis database
    loaded = _load(dataset)
    top_level = _top_level_items()
    if profile:
        print(profile_job(loaded, _csv_file(top_level, seed=3)))
        return {}
    result = {"items": len(top_level), "import_seconds": loaded["import_seconds"],
              "scope": "folder subtree" if loaded["root"] is not None else "organisation"}
    result["bulk_merge_1000"] = bulk_merge(env, loaded["user"], top_level, requests_count)
    result["merge_job_100k"] = merge_job(env, loaded, "merge.csv", _csv_file(top_level, seed=1))
    result["merge_job_100k_url"] = merge_job(env, loaded, "merge-by-url.json", _json_by_url_file(top_level, seed=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30, help="measured bulk requests (default 30)")
    parser.add_argument("--profile", action="store_true", help="profile one in-process merge job instead")
    args = parser.parse_args()
    result = run(args.items, args.requests, args.profile)
    if result:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
