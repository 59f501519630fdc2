"""Explorer benchmark: first pages, deep pages, exact counts, facets and bulk edit over N items.

    python bench/bench_explorer.py --items 1000000 [--repeat 15] [--keep]

Creates a fresh database ``loupe_bench_explorer`` (``LOUPE_BENCH_DB``) on the same PostgreSQL, an
organisation with an admin, ten folders and 8 declared keys (through the schema service), loads N
top-level items with realistic metadata in one ``INSERT ... SELECT`` (skewed enums, a lognormal number,
keys missing from some items, an undeclared key), builds the Explorer's indexes as the schema's task
does (``apps.explorer.indexes.key_indexes_sync``), then measures in this process, through the public
selectors and services (``explore_items``, ``explore_count``, ``explore_facets``, ``selection_bulk_edit``
and the metadata job's run), the time each call takes (server time: Python and PostgreSQL, no HTTP).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.bench_db import bench_env, database_recreate  # noqa: E402
BENCH_DB = os.environ.get("LOUPE_BENCH_DB", "loupe_bench_explorer")
FOLDERS = 10

KEYS = [  # (name, type, enum values)
    ("camera", "enum", [f"cam{i:02d}" for i in range(1, 21)]),
    ("weather", "enum", ["clear", "cloudy", "fog", "rain", "snow"]),
    ("score", "number", []),
    ("speed", "number", []),
    ("night", "boolean", []),
    ("captured", "datetime", []),
    ("site", "varchar", []),
    ("session", "uuid", []),
]

# One row per item: camera skewed towards cam01 (cam01 ~22%, cam20 ~1%), weather 50/25/10/10/5, score
# uniform (missing on 5%), speed lognormal 1..55 (missing on 30%), night 30%, captured over two years,
# site 200 values skewed, session 50 items each, batch (undeclared) 1,000 values.
LOAD = """
INSERT INTO storage_item (uuid, organisation_id, folder_id, item_type, name, status, client_metadata,
                          created_at, updated_at)
SELECT gen_random_uuid(), %(org)s, (%(folders)s::uuid[])[1 + i %% {folders}], 'image',
       'img_' || lpad(i::text, 7, '0') || '.jpg', 'ready',
       jsonb_strip_nulls(jsonb_build_object(
         'camera', 'cam' || lpad((1 + floor(20 * r1 * r1))::int::text, 2, '0'),
         'weather', CASE WHEN r2 < 0.5 THEN 'clear' WHEN r2 < 0.75 THEN 'cloudy' WHEN r2 < 0.85 THEN 'rain'
                         WHEN r2 < 0.95 THEN 'fog' ELSE 'snow' END,
         'score', CASE WHEN r3 < 0.95 THEN round((r3 / 0.95)::numeric, 4) END,
         'speed', CASE WHEN r4 < 0.7 THEN round(exp(4 * r4 / 0.7)::numeric, 2) END,
         'night', r5 < 0.3,
         'captured', to_char(timestamptz '2025-01-01 00:00:00+00' + r6 * interval '730 days', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'site', 'site-' || lpad(floor(200 * r7 * r7 * r7)::int::text, 3, '0'),
         'session', md5((i / 50)::text)::uuid::text,
         'batch', 'b' || (i %% 1000)
       )),
       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second',
       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'
FROM (SELECT i, random() r1, random() r2, random() r3, random() r4, random() r5, random() r6, random() r7
      FROM generate_series(%(first)s, %(last)s) i) g
"""

FILTERS = {  # name -> expressions rotated through the repeats (values vary so caches do not flatter)
    "enum eq": ["camera = 'cam05'", "camera = 'cam12'", "camera = 'cam02'", "camera = 'cam18'"],
    "number range": ["score between 0.40 and 0.45", "score between 0.10 and 0.13", "score between 0.7 and 0.8"],
    "boolean": ["night", "night = false"],
    "datetime range": ["captured between '2025-06-01T00:00:00Z' and '2025-06-15T00:00:00+02:00'",
                       "captured between '2026-02-01' and '2026-03-01'"],
    "4-leaf compound": ["weather = 'rain' and score > 0.5 and night = false and speed < 20",
                        "weather = 'fog' and score < 0.3 and night and speed > 5"],
    "undeclared eq": ["batch = 'b42'", "batch = 'b777'", "batch = 'b5'"],
    "name prefix": ["$name prefix 'img_00012'", "$name prefix 'img_0050'", "$name prefix 'img_09'"],
}
SORTS = {"by score": [{"key": "score", "desc": True}], "by created": [{"field": "created", "desc": True}]}
DEEP = [("boolean", "night", "by score"), ("boolean", "night", "by created"),
        ("enum eq", "camera = 'cam02'", "by created")]
FACET_KEYS = ["camera", "weather", "score", "speed", "night", "captured", "site", "session", "batch",
              {"field": "type"}]
BULK_FILTER = "weather = 'rain'"  # ~10% of the items: 100,000 at 1M


def _bench_env() -> dict:
    return bench_env(BENCH_DB, 13)


def _recreate_database(env: dict) -> None:
    database_recreate(env, BENCH_DB)


def _load(items: int) -> dict:
    """The organisation, its admin, folders, schema and ``items`` items; the index build's seconds."""
    from django.db import connection

    from apps.core.models import User
    from apps.core.services import organisation_default_get_or_create, organisation_member_set
    from apps.explorer.indexes import key_indexes_sync
    from apps.metadata import hooks
    from apps.metadata.services.schema import schema_key_add
    from apps.storage.services.folders import folder_create

    org = organisation_default_get_or_create()
    user = User.objects.create_user(email="explorer-bench@loupe.local", password="bench-explorer")
    organisation_member_set(organisation=org, user=user, role="admin")
    folders = [folder_create(user=user, name=f"site {i}", organisation=org) for i in range(FOLDERS)]
    hooks.hook_set("key_indexes_changed", lambda organisation_id: None)  # built below, timed, in this process
    for name, type_name, values in KEYS:
        schema_key_add(user=user, organisation=org, name=name, type=type_name, enum_values=values)
    started = time.perf_counter()
    step = 100_000
    with connection.cursor() as cursor:
        for first in range(1, items + 1, step):
            cursor.execute(LOAD.format(folders=FOLDERS), {
                "org": org.pk, "folders": [f.pk for f in folders], "first": first,
                "last": min(first + step - 1, items)})
        cursor.execute("VACUUM ANALYZE storage_item")
    loaded = time.perf_counter() - started
    sync = key_indexes_sync(organisation_id=org.pk)
    return {"load_s": round(loaded, 1), "index_build_s": round(sync.seconds, 1), "indexes": len(sync.created)}


def _timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def _summary(times: list[float]) -> dict:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1), "n": len(ordered)}


def _first_pages(scope: dict, repeat: int) -> dict:
    from apps.explorer.expression import parse_expression
    from apps.explorer.selectors import explore_items, sort_from_json

    results = {}
    for filter_name, expressions in FILTERS.items():
        for sort_name, sort in SORTS.items():
            times, rows = [], []
            for index in range(repeat):
                tree = parse_expression(expressions[index % len(expressions)])
                elapsed, page = _timed(lambda: explore_items(**scope, tree=tree, sort=sort_from_json(sort),
                                                             page_size=100))
                times.append(elapsed)
                rows.append(len(page.rows))
            results[f"{filter_name}, {sort_name}"] = {**_summary(times), "rows": min(rows)}
    return results


def _deep_pages(scope: dict) -> dict:
    """Pages 2..500 through page tokens (each page's time), for broad filters."""
    from apps.explorer.expression import parse_expression
    from apps.explorer.selectors import explore_items, sort_from_json

    results = {}
    for _, expression, sort_name in DEEP:
        tree, sort, token, times, page_number = parse_expression(expression), sort_from_json(SORTS[sort_name]), None, [], 0
        for page_number in range(1, 501):
            elapsed, page = _timed(lambda: explore_items(**scope, tree=tree, sort=sort, page_size=100,
                                                         page_token=token))
            if page_number > 1:
                times.append(elapsed)
            token = page.next_token
            if token is None:
                break
        results[f"{expression}, {sort_name}"] = {**_summary(times), "last_page": page_number,
                                                  "page_500_ms": round(times[-1], 1)}
    return results


def _counts(scope: dict, repeat: int) -> dict:
    from apps.explorer.counting import explore_count_answer
    from apps.explorer.expression import parse_expression
    from apps.explorer.selectors import explore_count

    exact, answers = [], {}
    for filter_name, expressions in FILTERS.items():
        for index in range(max(3, repeat // 3)):
            tree = parse_expression(expressions[index % len(expressions)])
            elapsed, count = _timed(lambda: explore_count(**scope, tree=tree))
            exact.append(elapsed)
            answer_ms, answer = _timed(lambda: explore_count_answer(**scope, tree=tree))
            answers.setdefault(filter_name, []).append(
                (round(elapsed), count, round(answer_ms), answer.count, answer.exact))
    return {"exact": _summary(exact), "per_filter (exact ms, count, answer ms, answer, exact?)": answers}


def _facets(scope: dict, repeat: int) -> dict:
    from apps.explorer.expression import parse_expression
    from apps.explorer.facets import explore_facets, facet_keys_from_json

    keys = facet_keys_from_json(FACET_KEYS)
    results = {}
    for label, expression in (("no filter", None), ("weather = 'rain'", "weather = 'rain'"),
                              ("batch = 'b42'", "batch = 'b42'")):
        tree = parse_expression(expression) if expression else None
        times = [_timed(lambda: explore_facets(**scope, tree=tree, keys=keys))[0] for _ in range(max(3, repeat // 5))]
        results[label] = _summary(times)
    return results


def _bulk_edit(scope: dict) -> dict:
    from apps.explorer.expression import parse_expression
    from apps.explorer.selection import Selection
    from apps.explorer.services import bulk_edit_patch, selection_bulk_edit
    from apps.metadata.services.jobs import metadata_job_run

    patch = bulk_edit_patch(set_values={"reviewed": "bench"}, organisation=scope["organisation"])
    selection = Selection(tree=parse_expression(BULK_FILTER))
    started = time.perf_counter()
    result = selection_bulk_edit(user=scope["user"], organisation=scope["organisation"], selection=selection,
                                 patch=patch)
    queued = time.perf_counter() - started
    job = metadata_job_run(job_id=result.job.pk)  # what the worker's task runs
    elapsed = time.perf_counter() - started
    return {"items": result.matched, "status": job.status, "changed": getattr(job, "done", None),
            "selection_and_file_s": round(queued, 1), "total_s": round(elapsed, 1),
            "items_per_s": round(result.matched / elapsed)}


def run(items: int, repeat: int, keep: bool) -> dict:
    env = _bench_env()
    if not keep:
        _recreate_database(env)
    os.environ.update(env)
    import django

    django.setup()
    from apps.core.models import User
    from apps.core.services import organisation_default_get_or_create
    from apps.storage.models import Item

    report: dict = {"items": items}
    if not keep:
        report["load"] = _load(items)
    else:  # migrations and indexes added since the load
        import subprocess

        from apps.explorer.indexes import key_indexes_sync

        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=os.environ, check=True)
        report["index_sync_s"] = round(key_indexes_sync(organisation_id=organisation_default_get_or_create().pk).seconds, 1)
    assert Item.objects.count() == items, "--keep needs a database loaded with the same --items"
    _print("load", {k: v for k, v in report.items() if k != "items"})
    scope = {"user": User.objects.get(email="explorer-bench@loupe.local"),
             "organisation": organisation_default_get_or_create()}
    for part, measure in (("first_page", lambda: _first_pages(scope, repeat)), ("deep_pages", lambda: _deep_pages(scope)),
                          ("counts", lambda: _counts(scope, repeat)), ("facets", lambda: _facets(scope, repeat)),
                          ("bulk_edit", lambda: _bulk_edit(scope))):
        report[part] = measure()
        _print(part, report[part])
    return report


def _print(part: str, figures: dict) -> None:
    print(f"== {part}", flush=True)
    for label, value in figures.items():
        if isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
            print(f"  {label:48} " + "  ".join(f"{k}={v}" for k, v in value.items()), flush=True)
        elif isinstance(value, dict):
            print(f"  {label}", flush=True)
            for inner, rows in value.items():
                print(f"    {inner:44} {json.dumps(rows)}", flush=True)
        else:
            print(f"  {label:48} {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15, help="calls per (filter, sort)")
    parser.add_argument("--keep", action="store_true", help="reuse the database an earlier run loaded")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    report = run(args.items, args.repeat, args.keep)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
