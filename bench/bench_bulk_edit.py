#!/usr/bin/env python
"""Explorer bulk edit through the job: a filter selecting ~100,000 of 1,000,000 items, edited by a real worker.

    DATABASE_URL=postgres://.../loupe_bench_facets python bench/bench_bulk_edit.py --items 1000000 [--runs 3]

Builds the data set when missing (``bench/explorer_fixture.py``; use a database of your own), starts one
Celery worker process (its own Redis database, ``REDIS_DB``), then per run calls the service the REST door
calls (``selection_bulk_edit``: ``{"set": {"reviewed": <run>, "lane": ...}, "remove": ["night"]}`` over
``score < 0.111``) and waits for the job. Prints per run: items, the submission's time (reading the
selection's uuids), items/s over the job's own run (started -> finished) and over submit -> done, and
the history rows written (one per item is the rule).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from explorer_fixture import django_setup, fixture  # noqa: E402

REDIS_DB = 11  # bench_metadata.py uses 13, bench_import.py 14, the tests 15
QUERY = "score < 0.111"  # ~100,000 of 1,000,000 (9 in 10 items have a score in [0, 1))


def _wait(job_id, timeout: float = 1800):
    from apps.metadata.models import MetadataJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = MetadataJob.objects.defer("items").get(pk=job_id)
        if job.is_finished:
            return job
        time.sleep(0.1)
    raise RuntimeError(f"job {job_id} did not finish")


def _run(organisation, admin, run: int) -> dict:
    from apps.explorer.expression import parse_expression
    from apps.explorer.selection import Selection
    from apps.explorer.services import bulk_edit_patch, selection_bulk_edit
    from apps.metadata.models import MetadataChange

    patch = bulk_edit_patch(set_values={"reviewed": run % 2 == 0, "lane": run}, remove=["night"],
                            organisation=organisation)
    history_before = MetadataChange.objects.count()
    submitted = time.perf_counter()
    result = selection_bulk_edit(user=admin, organisation=organisation,
                                 selection=Selection(folder=None, recursive=True, tree=parse_expression(QUERY)),
                                 patch=patch)
    submit_s = time.perf_counter() - submitted
    job = _wait(result.job.pk)
    wall = time.perf_counter() - submitted
    run_s = (job.finished_at - job.started_at).total_seconds()
    return {"status": job.status, "items": job.total, "done": job.done, "failed": job.failed,
            "history_rows": MetadataChange.objects.count() - history_before, "submit_s": round(submit_s, 2),
            "run_s": round(run_s, 2), "items_per_s": round(job.done / run_s),
            "submit_to_done_s": round(wall, 2), "items_per_s_submit_to_done": round(job.done / wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:63790/0").rsplit("/", 1)[0] + f"/{REDIS_DB}"
    os.environ["REDIS_URL"] = redis
    django_setup()
    organisation, admin, _ = fixture(items=args.items)
    from config.celery import app

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning", "--concurrency", "1",
         "-n", f"bench-bulk-edit-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local"},
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        while not app.control.ping(timeout=0.5):
            time.sleep(0.2)
        for run in range(1, args.runs + 1):
            with open("/proc/loadavg") as handle:
                load = handle.read().split()[0]
            print(f"run {run} (load {load}): {_run(organisation, admin, run)}", flush=True)
    finally:
        worker.terminate()
        worker.wait(timeout=60)


if __name__ == "__main__":
    main()
