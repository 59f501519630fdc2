"""Import benchmark: register N entries end to end through import jobs run by real Celery workers.

    python bench/bench_import.py --items 100000 [--items 1000000] [--workers 2]

For each size: generates the data set with bench/generate.py (cached under var/bench/<N>), creates a
fresh benchmark database ``loupe_bench`` on the same PostgreSQL, starts a Celery worker on it, submits
every import file of the data set into its folder, and waits until every job is DONE. Prints the
entries/s over the wall time, the worker processes' peak memory, and, as the ceiling, the rate of a
raw ``COPY`` of the same rows (exported from the result) into a table with the same indexes.

The data set's schema (``schema.json``: 8 keys) is declared first through the schema service, as a user
would, so the Explorer's indexes are in place (``apps.explorer.indexes``: a btree + statistics per typed
key, the organisation's GIN, created and name indexes); a load of 100,000 entries or more sets them
aside and the worker rebuilds them when it ends. ``seconds`` runs from the first submission until every
job is DONE **and** every wanted index is back and valid; ``seconds_registered`` stops at the jobs.
``--no-schema`` measures registration alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("LOUPE_BENCH_DB", "loupe_bench")  # a separate name lets benchmarks run side by side


def _bench_env() -> dict:
    from config import embedded, env

    base_url = env.get_str("DATABASE_URL") or embedded.ensure_postgres(env.var_dir()).url
    redis_url = env.get_str("REDIS_URL") or embedded.ensure_redis(env.var_dir()).url
    database_url = base_url.rsplit("/", 1)[0] + f"/{BENCH_DB}"
    return {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url.rsplit("/", 1)[0] + "/14",
            "DJANGO_SETTINGS_MODULE": "config.settings.local", "LOUPE_LOG_LEVEL": "WARNING"}


def _recreate_database(env: dict) -> None:
    import psycopg

    admin_url = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def _dataset(items: int) -> Path:
    out = ROOT / "var" / "bench" / str(items)
    if not (out / "manifest.json").exists():
        subprocess.run([sys.executable, "bench/generate.py", "--items", str(items), "--out", str(out)],
                       cwd=ROOT, check=True)
    return out


class PeakMemory(threading.Thread):
    """Samples the summed RSS of a process tree (the worker and its pool children)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        import psutil

        root = psutil.Process(self.pid)
        while not self.stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, max(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.2)


def _bench_user():
    from apps.core.models import User
    from apps.core.services import organisation_default_get_or_create

    org = organisation_default_get_or_create()
    user = User.objects.filter(email="bench@loupe.local").first() or User.objects.create_superuser(
        email="bench@loupe.local", password="bench")
    return org, user


def _declare_schema(dataset: Path) -> int:
    """Declare the data set's keys (schema.json) and wait for the Explorer's indexes over the empty
    organisation; returns how many indexes the schema wants."""
    from apps.explorer.indexes import key_indexes_wanted
    from apps.metadata.services.schema import schema_key_add

    org, user = _bench_user()
    for name, spec in json.loads((dataset / "schema.json").read_text()).items():
        extra = {"enum_values": spec["values"]} if spec["ty"] == "enum" else {}
        if spec["ty"] == "varchar" and "max_length" in spec:
            extra["max_length"] = spec["max_length"]
        schema_key_add(user=user, organisation=org, name=name, type=spec["ty"], **extra)
    wanted = len(key_indexes_wanted(org.pk).indexes)
    _wait_indexes(org.pk, wanted)
    return wanted


def _wait_indexes(organisation_id, wanted: int) -> None:
    """Until the organisation has its ``wanted`` Explorer indexes, all valid (the worker's sync task)."""
    from django.db import connection

    from apps.explorer.indexes import organisation_index_prefix

    pattern = organisation_index_prefix(organisation_id).replace("_", r"\_") + "%"
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FILTER (WHERE i.indisvalid), count(*) FROM pg_class c "
                           "JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname LIKE %s", [pattern])
            valid, total = cursor.fetchone()
        if valid == total == wanted:
            return
        time.sleep(0.25)


def _submit_all(dataset: Path) -> list[str]:
    """Create the folder tree and one import job per file (the jobs start when submitted)."""
    from django.core.files import File

    from apps.storage.services.folders import folder_create
    from apps.imports.services.imports import import_job_create
    from apps.storage.services.integrations import integration_s3_create

    org, user = _bench_user()
    # The data set's URLs are s3://loupe-bench/... with media metadata supplied: a client-only bucket
    # integration registers them without reading any file (Encord's strict client-only access).
    integration = integration_s3_create(organisation=org, name="loupe-bench", client_only=True)
    manifest = json.loads((dataset / "manifest.json").read_text())
    folders: dict[str, object] = {}
    job_ids = []
    for entry in manifest["files"]:
        parent, path = None, ""
        for name in entry["folder"].split("/"):
            path = f"{path}/{name}" if path else name
            if path not in folders:
                folders[path] = folder_create(user=user, name=name, parent=parent, organisation=org)
            parent = folders[path]
        with open(dataset / entry["file"], "rb") as handle:
            job = import_job_create(user=user, folder=parent, integration=integration,
                                    fileobj=File(handle, name=Path(entry["file"]).name))
        job_ids.append(job.pk)
    return job_ids


def _wait_done(job_ids: list) -> dict:
    from apps.storage.models import ImportJob

    while True:
        jobs = list(ImportJob.objects.filter(pk__in=job_ids).values("status", "registered", "failed", "skipped", "error"))
        if all(j["status"] in ("DONE", "ERROR", "CANCELLED") for j in jobs):
            return {
                "done": sum(j["registered"] for j in jobs), "failed": sum(j["failed"] for j in jobs),
                "errors": [j["error"] for j in jobs if j["error"]],
            }
        time.sleep(0.25)


def _copy_ceiling() -> tuple[int, float]:
    """Raw COPY of the imported rows (text format, from a file) into a table with the same indexes."""
    from django.db import connection

    path = ROOT / "var" / "bench" / "items.copy"
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.cursor().copy("COPY storage_item TO STDOUT") as copy, open(path, "wb") as out:
            for block in copy:
                out.write(block)
        cursor.execute("DROP TABLE IF EXISTS bench_item_copy")
        cursor.execute("CREATE TABLE bench_item_copy (LIKE storage_item INCLUDING DEFAULTS INCLUDING INDEXES)")
        started = time.perf_counter()
        with raw.cursor().copy("COPY bench_item_copy FROM STDIN") as copy, open(path, "rb") as src:
            while block := src.read(1 << 20):
                copy.write(block)
        cursor.execute("SELECT count(*) FROM bench_item_copy")
        rows = cursor.fetchone()[0]
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_item_copy")
    path.unlink()
    return rows, elapsed


def run(items: int, workers: int, schema: bool = True) -> dict:
    env = _bench_env()
    dataset = _dataset(items)
    _recreate_database(env)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "LOUPE_LOG_LEVEL")})
    import django

    django.setup()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning", "--concurrency", str(workers),
         "-n", "bench@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    memory = PeakMemory(worker.pid)
    memory.start()
    try:
        from config.celery import app

        while not app.control.ping(timeout=0.5):
            time.sleep(0.2)
        indexes = _declare_schema(dataset) if schema else 0
        started = time.perf_counter()
        job_ids = _submit_all(dataset)
        result = _wait_done(job_ids)
        registered = time.perf_counter() - started
        if indexes:
            from apps.core.services import organisation_default_get_or_create

            _wait_indexes(organisation_default_get_or_create().pk, indexes)
        elapsed = time.perf_counter() - started
    finally:
        memory.stop.set()
        worker.terminate()
        worker.wait(timeout=60)
    from apps.storage.models import Item

    rows = Item.objects.count()
    copy_rows, copy_elapsed = _copy_ceiling()
    return {
        "entries": items, "jobs": len(job_ids), "registered": result["done"], "failed": result["failed"],
        "explorer_indexes": indexes, "item_rows": rows, "seconds_registered": round(registered, 1),
        "seconds": round(elapsed, 1), "entries_per_s": round(items / elapsed),
        "worker_peak_rss_mib": round(memory.peak / 2**20), "copy_rows": copy_rows,
        "copy_seconds": round(copy_elapsed, 1), "copy_rows_per_s": round(copy_rows / copy_elapsed),
        "ratio_to_copy": round((rows / elapsed) / (copy_rows / copy_elapsed), 2), "errors": result["errors"][:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default: 2, the core count)")
    parser.add_argument("--no-schema", action="store_true", help="do not declare the data set's schema (no Explorer indexes)")
    args = parser.parse_args()
    print(json.dumps(run(args.items, args.workers, schema=not args.no_schema), indent=2))


if __name__ == "__main__":
    main()
