#!/usr/bin/env python
"""Explorer facets at scale: ``explore_facets`` for 10 keys under several filters, median and p95.

    DATABASE_URL=postgres://.../loupe_bench_facets python bench/bench_facets.py --items 1000000 [--repeat 7]
        [--indexes]

Builds the data set when missing (``bench/explorer_fixture.py``: one ``INSERT ... SELECT`` into the
database of DATABASE_URL; use a database of your own), then times the service the REST door calls (server
time, no HTTP), one filter after another, ``--repeat`` times each after one warm-up. ``--indexes`` first
creates the per-key typed indexes (``apps.explorer.indexes.key_index_statements``) and analyses.
Prints, per filter: the result's exact count, whether the facets were exact or sampled, median / p95 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from explorer_fixture import django_setup, fixture  # noqa: E402

KEYS = ["camera", "weather", "night", "score", "captured", "site", "session", "speed",
        {"field": "type"}, {"field": "width"}]
FILTERS = {
    "no filter": None,
    "enum eq (cam1, ~34%)": 'camera = "cam1"',
    "number range (score > 0.5, ~45%)": "score > 0.5",
    "boolean (night, ~22%)": "night",
    "datetime range (one month, ~3%)": "captured between '2024-03-01T00:00:00Z' and '2024-03-31T00:00:00Z'",
    "4-leaf compound (~1.5%)": 'camera in ("cam1","cam2") and score > 0.8 and not night and weather = "sunny"',
    "undeclared eq (speed = 42, ~0.5%)": "speed = 42",
    "folder scope + enum (~4%)": '$folder scope and camera = "cam1"',
}


def _indexes(organisation) -> None:
    from django.db import connection

    from apps.explorer.indexes import key_index_statements
    from apps.metadata.selectors import schema_for

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for spec in schema_for(organisation_id=organisation.pk).keys.values():
            for statement in key_index_statements(organisation_id=organisation.pk, spec=spec):
                cursor.execute(statement)
        cursor.execute("ANALYZE storage_item")
    print(f"typed indexes and statistics in {time.perf_counter() - started:.1f} s")


def _measure(organisation, admin, folders, *, repeat: int, only=None) -> None:
    from apps.explorer.expression import parse_expression
    from apps.explorer.facets import explore_facets, facet_keys_from_json
    from apps.explorer.selectors import explore_count

    keys = facet_keys_from_json(KEYS)
    print(f"{'filter':<44} {'count':>9} {'facets':>16} {'median ms':>10} {'p95 ms':>8}")
    for label, q in FILTERS.items():
        if only and not any(text in label for text in only):
            continue
        scope = {"user": admin, "organisation": organisation}
        if q and q.startswith("$folder scope and "):
            scope["scope_folder"] = folders[0]
            q = q.removeprefix("$folder scope and ")
        tree = parse_expression(q) if q else None
        count = explore_count(**scope, tree=tree)
        times, answer = [], None
        for run in range(repeat + 1):
            started = time.perf_counter()
            answer = explore_facets(**scope, tree=tree, keys=keys)
            if run:  # the first run warms the cache
                times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        how = f"sampled {answer.sample_percent}%" if answer.approximate else "exact"
        print(f"{label:<44} {count:>9,} {how:>16} {statistics.median(times):>10.0f} {p95:>8.0f}"
              + (f"  (estimated {answer.count:,})" if answer.approximate else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--indexes", action="store_true")
    parser.add_argument("--only", action="append", help="run only the filters whose label holds this text")
    args = parser.parse_args()
    django_setup()
    organisation, admin, folders = fixture(items=args.items)
    if args.indexes:
        _indexes(organisation)
    with open("/proc/loadavg") as handle:
        print(f"load average: {handle.read().split()[0]}")
    _measure(organisation, admin, folders, repeat=args.repeat, only=args.only)


if __name__ == "__main__":
    main()
